from django.db.backends.postgresql import base, client

from config import embedded_db


class DatabaseClient(client.DatabaseClient):
    def runshell(self, parameters):
        # dbshell may be the first thing to need the server's address.
        embedded_db.resolve(self.connection.settings_dict)
        super().runshell(parameters)


class DatabaseWrapper(base.DatabaseWrapper):
    """PostgreSQL, with HOST and PORT filled in from the private server (started if it
    is not running) the first time a connection is opened."""

    client_class = DatabaseClient

    def get_connection_params(self):
        embedded_db.resolve(self.settings_dict)
        return super().get_connection_params()
