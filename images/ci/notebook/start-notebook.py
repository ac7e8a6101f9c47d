#!/opt/conda/bin/python
# As the official start-notebook.py: JupyterLab, with the arguments given.
import os
import sys

os.execvp("jupyter", ["jupyter", "lab", *sys.argv[1:]])
