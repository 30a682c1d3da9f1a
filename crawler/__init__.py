"""Trawl's application: the Scrapy parts (engine/), the services every interface shares
(services/), the interfaces (cli/, web/), and the one adapter between matchers and storage."""
