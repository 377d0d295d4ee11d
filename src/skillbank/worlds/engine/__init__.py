"""The one world engine every built-in and toolkit world runs on.

- `api`: app declarations (`AppDef`, `Param`, `ApiSpec`), pagination, ids, the frozen clock;
- `state`: copy-on-write task state over a frozen base, the change diff, the outbound ledger;
- `answers`: the one answer normalisation;
- `grading`: requested and tolerated changes (`Expect`, `Allow`) and the tests every task has;
- `builtin`: the `supervisor` and `api_docs` apps;
- `world`: `EngineWorld` (task catalogue, API lookup, app infos) and `EngineTaskEnv`
  (call dispatch, ids, completion, the ledger).

The built-in apps world (`skillbank.worlds.apps`) and toolkit worlds (`skillbank.toolkit`)
are catalogues of apps and tasks over these pieces.
"""
