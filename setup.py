"""The wheel ships the book: the chapters (notebooks/) and the student exercises (exercises/*.ipynb,
not exercises/solutions/) become package data of `ukva_widgets.notebooks` and `ukva_widgets.exercises`
by mapping those packages onto the two folders, so the folders stay where the checkout has them.
It is the package students install, so it leaves out the answer key (ukva_widgets.grading.answers:
answer tables, reasons, model answers) and ships its sealed form instead (grading/sealed.json).
Everything else is declared in pyproject.toml; ukva_widgets/book.py reads the shipped copy."""

from setuptools import find_packages, setup

BOOK = {"ukva_widgets.notebooks": "notebooks", "ukva_widgets.exercises": "exercises"}
ANSWER_KEY = ["ukva_widgets.grading.answers", "ukva_widgets.grading.answers.*"]

setup(
    packages=find_packages(include=["ukva_widgets", "ukva_widgets.*"], exclude=ANSWER_KEY) + list(BOOK),
    package_dir=BOOK,
    package_data={"ukva_widgets.notebooks": ["*.ipynb", "*.md"], "ukva_widgets.exercises": ["*.ipynb"],
                  # the book's Voila template (serving.voila_server puts jupyter_data on JUPYTER_PATH), and a
                  # kernel's stored answers to the probes, for the live book in a browser (real/recorded.py)
                  "ukva_widgets": ["jupyter_data/voila/templates/ukva/*", "real/recorded.json"],
                  # the answer key, sealed (grading/sealed.py)
                  "ukva_widgets.grading": ["sealed.json"],
                  # `ukva measure`'s C program and the reference machine's result (real/measure*.py)
                  "ukva_widgets.real": ["measure.c", "measure_reference.json"]},
    include_package_data=False,
)
