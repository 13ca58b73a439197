"""The call-script library: what callers hear and agents say, in files a manager edits.

Scripts are YAML files (the bundled ones are in ``scripts/library/``; ``SCRIPTS_DIR``
points the app at another directory). Each declares ``name``, ``version``, ``kind`` and
``languages``, and holds texts in every language it declares (en-US and es-MX for
anything a caller hears). ``callcenter scripts check`` validates a directory;
``callcenter scripts list`` shows what is in it. This package knows no HTTP: the IVR,
the ACD and the console call it.

The API (everything else is internal):

``Library(path=None, clock=None)``
    Loads every ``*.yaml`` in ``path`` (default: the bundled library). Built once in
    ``create_app`` as ``Deps.scripts``. On access, at most once a second by ``clock``, a
    changed file is reloaded; a file that turns invalid keeps its last good version and
    its problem is logged and listed in ``Library.errors``.
``Library.get(name) -> Script``
    ``KeyError`` when there is no such script.
``Library.text(name, key, lang="en-US", context=None, **values) -> str``
    Plain text for ``<Say>`` or an SMS: variables filled from ``context`` (plain dicts or
    objects: ``{"customer": {"first_name": "Ana"}, "queue": {"position": 2}}``) and
    ``values``; an unknown language gets the same family (es-US → es-MX) or en-US; a
    missing variable gets its fallback in that language ("there", "our dealership"),
    never a raw ``{placeholder}`` and never an exception. Nothing in it that XML cannot
    carry; twilio-python's ``say()`` escapes the rest.
``Library.render(name, key, lang="en-US", context=None, *, target="text", **values) -> str``
    The same for ``target`` "text", "twiml" (XML-escaped) or "html" (a markupsafe
    ``Markup``; paragraphs and line breaks kept), e.g. the post-visit e-mail.
``Library.scripts() -> list[Script]``, ``Library.errors -> list[ScriptError]``
``Script``
    ``.name``, ``.version`` (int or str, as written), ``.ref`` (``name@version``, what a
    call records), ``.kind`` (a ``Kind``: auto_attendant, outbound, pitch, voicemail,
    email, sms, hold, scorecard), ``.languages``, ``.text_keys()``, ``.render(key, lang, context,
    target)``, ``.text(key, lang, context)``; ``.menu`` (options: ``digit``, ``id``,
    ``action`` queue/appointment/language/repeat, ``queue``, ``language``, ``priority``;
    ``keywords`` ``{lang: [phrase]}``, what a caller may say besides the label; ``needs``
    ``{skill: level}`` the ACD matches besides the queue's own (queue options);
    ``sensitive`` (queue options: card or bank details are given there, so the call is
    flagged and recording pauses); a
    sub-menu of a queue option: ``prompt`` (text key ``menu.<id>.prompt``) and ``options``,
    each ``digit`` (never ``*``: back to the main menu), ``id``, ``label``, ``keywords``,
    ``queue``, ``needs``, ``priority`` — the last three filled in from the parent when the
    file leaves them out; label key ``menu.<id>`` for options and sub-options alike);
    ``.option(id) -> MenuOption | SubOption`` (``KeyError`` when none);
    ``.speech_hints(lang) -> list[str]`` (the main menu's labels and keywords, each once,
    in order) and ``.submenu_hints(option_id, lang)`` (the same for a sub-menu; ``[]``
    when the option has none), in the language ``.language(lang)`` picks;
    ``.steps`` (each ``id``, ``kind`` say/ask/note/end, ``text``,
    ``answers`` [``id``, ``label``, ``next``, ``value``], ``next``, ``field`` — the lead
    field an answer fills — and ``sensitive``: recording pauses on this step),
    ``.step(id)``; ``.sections`` (the pitch: ``id``, ``seconds``, ``text``);
    ``.messages`` (e-mail and SMS: keys ``<message>.subject``, ``<message>.body``);
    ``.checks`` and ``.criteria`` (a QA scorecard: the script it checks, and each
    criterion's ``id``, ``label`` — text key ``criteria.<id>`` —, ``weight``,
    ``max_points`` and the ``step`` or ``section`` of the checked script).
``ScriptError(file, line, message)``
    ``str()`` is ``file:line: message``. ``load_script(path)`` raises it;
    ``check_dir(path) -> (scripts, problems)`` returns them all.

Texts name variables as ``{customer.first_name}``; the known ones are in
``scripts.render.VARIABLES`` (a file using another does not load). ``{var|words}``
gives one place its own fallback; ``{{`` and ``}}`` are literal braces.
"""

from scripts.errors import ScriptError
from scripts.loader import check_dir, check_file, load_script
from scripts.render import VARIABLES
from scripts.schema import Kind, LeadField, StepKind
from scripts.script import Script
from scripts.service import BUNDLED, Library

__all__ = [
    "BUNDLED",
    "VARIABLES",
    "Kind",
    "LeadField",
    "Library",
    "Script",
    "ScriptError",
    "StepKind",
    "check_dir",
    "check_file",
    "load_script",
]
