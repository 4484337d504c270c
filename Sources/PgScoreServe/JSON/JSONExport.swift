// The daemon reads request bodies and writes responses with the shared PgScoreJSON.
@_exported import PgScoreJSON
