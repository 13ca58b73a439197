"""Every caller-facing text exists in every language, and the placeholders fill."""

from routing import prompts


def test_every_language_has_every_text():
    keys = set(prompts.PROMPTS[prompts.DEFAULT])
    for lang, texts in prompts.PROMPTS.items():
        assert set(texts) == keys, lang


def test_wait_announcement_in_both_languages():
    assert prompts.wait_announcement("en-US", 3, 1).endswith("about 1 minute.")
    assert prompts.wait_announcement("es-MX", 2, 4) == (
        "Usted es el número 2 en la fila. El tiempo de espera estimado es de unos 4 minutos."
    )


def test_an_unknown_language_is_english():
    assert prompts.language("fr-FR") == "en-US" and prompts.language(None) == "en-US"
    assert prompts.text("xx", "goodbye") == "Thank you for calling. Goodbye."
