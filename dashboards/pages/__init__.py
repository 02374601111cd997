"""One module per page; Dash imports each when the app is built (``use_pages``)."""
