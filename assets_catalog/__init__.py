"""Asset sources (Objaverse, local folders, built-in procedural models) and the Parquet catalog."""
