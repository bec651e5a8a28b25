"""Self-contained HTML reports: Evidence in, one HTML file out."""
