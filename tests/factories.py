from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.roles import Role

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted and extracted in (Role.WAREHOUSE, Role.AUDITOR, Role.INTEGRATION):
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
        if extracted == Role.ADMIN:
            self.is_superuser = self.is_staff = True
        if create:
            self.save()


class ProductFactory(factory.Factory):
    """Products are made through catalog.services.product_create, exactly as the API and
    admin make them (the ledger opens the balance row in the same transaction)."""

    class Meta:
        model = dict

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("9.99")
    description = ""
    reorder_level = 0
    is_active = True

    @classmethod
    def _create(cls, model_class, stock: int = 0, **kwargs):
        from catalog.services import product_create
        from ledger.services import stock_restock

        product = product_create(**kwargs)
        if stock:
            stock_restock(
                product_id=product.id, quantity=stock, actor_id=None, reference="factory stock"
            )
        return product

    @classmethod
    def _build(cls, model_class, **kwargs):
        raise NotImplementedError("create products; they need a balance row")
