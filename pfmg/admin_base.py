"""What several apps' admins share."""


class ReadOnlyAdminMixin:
    """Listed and viewed in the admin, never added, changed or deleted there: the rows are written by a service
    (timeline, decisions, consents, tokens), a loader (the ontologies) or the audit trail itself."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
