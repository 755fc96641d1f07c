"""The toolkit's one error base class.

Every error that bad input, a bad file or an unusable model can cause derives from
``ToolkitError``; the command line turns those (and only those) into one clear message and exit
status 2, so that a genuine bug keeps its traceback. It lives beside ``scoring.py`` because the
``evaluate`` module and its Hub Space carry these two files and nothing else of the toolkit.
It subclasses ``ValueError`` so that callers catching bad values keep working.
"""


class ToolkitError(ValueError):
    """Bad input or an unusable resource; the message names it and what was expected."""
