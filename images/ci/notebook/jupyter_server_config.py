# As the official image's /etc/jupyter/jupyter_server_config.py: every address, port 8888
# (JUPYTER_PORT), no browser. The token comes from JUPYTER_TOKEN or JUPYTER_TOKEN_FILE.
import os

c = get_config()  # noqa: F821
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
c.ServerApp.open_browser = False
