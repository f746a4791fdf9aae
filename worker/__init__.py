"""Code that runs on worker nodes. It never imports Django and holds no database credentials."""
