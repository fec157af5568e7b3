"""MongoDB backups: mongodump's archive, zstd, chunked AES-256-GCM, local directory + Azure Blob.

See docs/backup.md for the object format, the manifest and the operations.
"""
