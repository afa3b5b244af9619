"""The lake: Hive-partitioned Parquet tables, the run manifest, the lock, and the views.

``storage`` is the file system (local or S3); ``store`` the layout, record schema, manifest
and quarantine; ``locking`` the lake lock; ``compaction`` merges small data files and says
which files are live; ``limits`` bounds a DuckDB connection's memory and gives it a spill
folder in the lake; ``views`` registers the tables in DuckDB; ``info`` summarises what the
lake holds.
May import: core modules only.
"""
