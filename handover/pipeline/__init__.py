"""Pipeline stages: extract, map, validate, load, report, chained by run()."""
