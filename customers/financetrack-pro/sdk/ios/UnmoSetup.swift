// UnMoGrowP SDK setup for financetrack-pro.
// Reads UnmoConfig.plist (publishable keys only; a secret key never ships in an app).
import Foundation

enum UnmoSetup {
    static func start(bundle: Bundle = .main) {
        guard
            let url = bundle.url(forResource: "UnmoConfig", withExtension: "plist"),
            let data = try? Data(contentsOf: url),
            let config = try? PropertyListSerialization.propertyList(from: data, format: nil) as? [String: String]
        else {
            assertionFailure("UnmoConfig.plist is missing from the app bundle")
            return
        }
        let environment = config["UnmoEnvironment"] ?? "test"
        let key = environment == "live" ? config["UnmoPublishableKeyLive"] : config["UnmoPublishableKeyTest"]
        Unmo.configure(apiBaseURL: config["UnmoApiBaseURL"] ?? "https://api.unmogrowp.com/v1", publishableKey: key ?? "")
    }
}
