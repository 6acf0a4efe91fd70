"""Model instances of rows the hot paths have just read or written."""

from django.db.models.base import ModelState


def saved_instance(model, using: str = "default", **fields):
    """A ``model`` instance of ``fields`` as read from the database, built as unpickling
    builds one: ``__new__``, then its attributes. Model.__init__ sets every field through
    its descriptor and sends pre_init and post_init (nothing here listens to them): for
    a posting or an order, building instances that way cost more than hashing them. A
    field left out is deferred (read from the database if it is ever asked for).
    ``using``: the database alias the row came from."""
    instance = model.__new__(model)
    instance.__dict__.update(fields)
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = using
    return instance
