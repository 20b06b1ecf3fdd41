"""What the tests and the benchmarks share: a real PostgreSQL server started from the
installed binaries (`pgserver`), the Dagster UI served for a browser (`uiserver`), the
leak scanner (`leakscan`), test homes with generated deliveries and keyrings (`homes`),
and the pytest plugin that offers them as fixtures (`pytest_plugin`).

Not part of Mellanrum itself: nothing in orchestration/, assets/, core/ or schemas/
imports it.
"""
