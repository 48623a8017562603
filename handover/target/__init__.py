"""The target service database: table definitions, writers, ledger, locks, migrations."""
