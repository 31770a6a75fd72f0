from connector.cli import app

app()
