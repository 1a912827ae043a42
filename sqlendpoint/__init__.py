"""The SQL endpoint for BI tools: PostgreSQL's wire protocol over the published warehouse files."""
