// The core reads and writes JSON with the shared, Foundation-free PgScoreJSON.
@_exported import PgScoreJSON
@_exported import PgScoreNumericText
