// UnMoGrowP SDK setup for techstart-mobile.
// Reads assets/unmo.properties (publishable keys only; a secret key never ships in an app).
package com.unmogrowp.setup

import android.content.Context
import java.util.Properties

object UnmoSetup {
    fun start(context: Context) {
        val config = Properties()
        context.assets.open("unmo.properties").use { config.load(it) }
        val environment = config.getProperty("unmo.environment", "test")
        val key = config.getProperty("unmo.publishable_key.$environment")
        Unmo.configure(
            context,
            apiBaseUrl = config.getProperty("unmo.api.base_url", "https://api.unmogrowp.com/v1"),
            publishableKey = key,
        )
    }
}
