"""Model instances of rows the hot paths have just read or written."""

from django.db.models.base import ModelState


def saved_instance(model, using: str = "default", **fields):
    """A ``model`` instance of ``fields`` as read from the database, built as unpickling
    builds one: ``__new__``, then its attributes. Model.__init__ sets every field through
    its descriptor and sends pre_init and post_init (nothing here listens to them): for
    a posting or an order, building instances that way cost more than hashing them. A
    field left out is deferred (read from the database if it is ever asked for).
    ``using``: the database alias the row came from."""
    return saved_instance_of(model, fields, using)


def saved_instance_of(model, fields: dict, using: str = "default"):
    """saved_instance of a dict of fields, which becomes the instance's own attributes
    (not copied: the caller hands it over). For the rows a posting returns by the
    thousand, where copying each row's fields once more showed."""
    instance = model.__new__(model)
    instance.__dict__ = fields
    state = fields["_state"] = ModelState()
    state.adding = False
    state.db = using
    return instance
