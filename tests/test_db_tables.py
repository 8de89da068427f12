"""unmo_cli/db/tables.py (the Core table clauses of the fast paths) against db/models.py: the
same tables, the same columns in the same order, each of the same type, so a column added to,
renamed in or retyped in a model shows up here before a fast path writes a row without it."""

from __future__ import annotations

import pytest

from unmo_cli.db import models, tables


@pytest.mark.parametrize("clause", tables.TABLES, ids=lambda t: t.name)
def test_each_table_clause_matches_its_model_table(clause):
    model = models.metadata.tables[clause.name]
    assert [c.name for c in clause.columns] == [c.name for c in model.columns]
    for ours in clause.columns:
        theirs = model.columns[ours.name].type
        # SQLModel's AutoString decorates a String; DateTime, Integer and Float are themselves.
        theirs = getattr(theirs, "impl_instance", theirs)
        assert isinstance(theirs, type(ours.type)), (clause.name, ours.name, theirs)
