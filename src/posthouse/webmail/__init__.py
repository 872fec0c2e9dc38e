"""The webmail at /mail: a single-page app on JMAP, its login, and the mail reader's pages."""
