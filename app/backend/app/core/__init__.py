"""Process-wide concerns: settings and logging."""
