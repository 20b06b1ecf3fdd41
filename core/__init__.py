"""The pure domain code: no Dagster. DataFrame in, DataFrame out."""
