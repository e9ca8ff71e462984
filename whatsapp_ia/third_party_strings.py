"""Strings that libraries show in our admin but do not translate to Spanish themselves.

django-axes (login attempts) ships no Spanish catalog, and django-import-export's Spanish for its export page is
missing or marked fuzzy. Django merges every catalog into one, so a translation in locale/es for the same msgid
fills the gap. Listing the msgids here keeps them in our catalog when ``makemessages`` runs (it drops msgids it
cannot find in our sources). Nothing imports this module.
"""

from django.utils.translation import gettext_noop

AXES = (
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("Access lock out"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("Access Attempt"),
    gettext_noop("Expires At"),
    gettext_noop("Logout Time"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("Locked Out"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Expiration"),
    gettext_noop("Status"),
)

IMPORT_EXPORT = (
    gettext_noop("This exporter will export the following fields: "),
    gettext_noop("Select all"),
)
