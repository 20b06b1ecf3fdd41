"""The application layer: what the commands (and the tests and benchmarks) ask Mellanrum to do.

Each function takes the settings and plain values (dates as `datetime.date`) and returns a
report; the CLI only parses options, renders reports and chooses exit codes.

- `runs`: the nightly run, the ad-hoc reconciliation and their stages (Dagster runs);
- `exports`: a recipient's sealed export of the latest publication;
- `partner`: a partner's own extract, pseudonymized at source.
"""
