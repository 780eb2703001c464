"""Help texts: the overview, one entry per command, and the descriptions bots register with the platform."""

from __future__ import annotations

# (command, one-line description for platform command menus, full help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start", "Welcome and a short tour", "/start — welcome message and the three steps to your first image."),
    ("help", "List commands or explain one", "/help [command] — all commands, or details of one: /help imagine."),
    ("persona", "Create and manage personas",
     "/persona new <name> — start a persona (photos may come with the command), confirm consent, send 3-10 "
     "photos of one face, then /done.\n"
     "/persona list · show <name> · rename <old> <new> · delete <name> · train <name> (LoRA for stronger "
     "likeness).\n"
     "/persona set <name> style <notes> — the look every picture of the persona carries (e.g. soft film grain, "
     "pastel tones); shoot-size <4-12> — photos a shoot makes (6 unless set); platform <name> — what its "
     "pictures are made for unless --platform says otherwise. 'default' as the value clears one. /persona show "
     "lists them with the wardrobe."),
    ("wardrobe", "Outfits your personas wear by name",
     "/wardrobe save [<persona>:] <name> <description> — keep an outfit, e.g. /wardrobe save Ava: red-dress a red "
     "satin slip dress. Send a photo of the outfit with that caption to keep it as a reference (without words, "
     "its colours are written down). With one persona it is implied; with several I ask whose.\n"
     "/wardrobe list [<persona>] · delete [<persona>:] <name>\n"
     "Use it by name: /imagine Ava in her red-dress at a café (also “wearing red-dress”, “her red dress”)."),
    ("imagine", "Generate images of a persona",
     "/imagine [<persona>:] <prompt> [--ar W:H] [--n 1-4] [--seed N] [--steps N] [--template <name>] "
     "[--platform <p>] [--no <negative>]\n"
     "Example: /imagine Ava: reading in a Paris café, golden hour --ar 4:5 --n 2\n"
     "Plain sentences work too: “Ava on a beach at sunset, 4:5, four versions”."),
    ("template", "List or save prompt templates",
     "/template list · show <name> · delete <name> · save <name> <text> — templates wrap your prompt: "
     "{subject} is the persona, {prompt} your words. Use them with /imagine … --template <name>."),
    ("animate", "Turn an image into a short video",
     "/animate [<asset>] [--motion zoom-in|zoom-out|pan-left|pan-right|tilt-up|tilt-down|orbit|ai] "
     "[--seconds 2-10] — animates the image with that id, else the image you reply to, else a photo sent "
     "with the command, else your newest image. ai lets a video model invent the movement; the others "
     "are camera moves.\n"
     "Example: /animate #1a2b3c4d --motion pan-left --seconds 6 · “animate it with a zoom in for 5 seconds” · "
     "“make a video of Ava” (Ava's newest picture)\n"
     "Defaults: /settings motion <preset> and /settings seconds <2-10>; unset, the server picks (AI motion "
     "where a GPU runs it, else zoom-in)."),
    ("swap", "Put a persona's face into a photo or video",
     "/swap <persona> [<asset>] — puts the persona's face into a photo or a short video: attach it, reply to "
     "it, or give its id. Only your own, ready personas.\n"
     "Example: /swap Ava #1a2b3c4d · a video sent with the caption /swap Ava"),
    ("shoot", "A photoshoot: 4-12 shots of one scene",
     "/shoot <persona> [4-12] <scene> [--ar W:H] [--seed N] [--platform <p>] — one job makes N shots (6 when "
     "no number is given) that share the outfit, place and light of the scene, each with its own pose, angle and "
     "expression (close-up, half body, full body, profile, over the shoulder, candid laugh…), every one checked "
     "for likeness. A contact sheet comes back with the shots numbered: tap the numbers to pick favourites, then "
     "⬇ full size, 🔁 more like #k (new poses, same shoot), 🎬 animate, or 📦 export them as one carousel in the "
     "order you picked them, with one post text.\n"
     "Example: /shoot Ava 8 on a beach at sunset in a red linen dress · “a rooftop shoot of Ava at night, 6 photos”"),
    ("export", "Package results for a platform",
     "/export <instagram|tiktok|youtube|x|facebook> [<asset> ... | last N] — a zip of the results in each of the "
     "platform's formats (sized, captioned, labelled as AI-generated) behind an expiring download link; "
     "your newest result when none is named.\n"
     "Example: /export instagram last 3 · /export tiktok #1a2b3c4d · or the 📦 Export button under a result."),
    ("info", "How a result was made",
     "/info <id> — a result's prompt, seed and model, its likeness to the persona on the persona's own scale "
     "(70 % is the threshold), which identity layers ran (LoRA, a refined face, new seeds) and the reference "
     "photo used, and its AI label.\nExample: /info #1a2b3c4d"),
    ("verify", "Check a file for AI labels and watermarks",
     "/verify — send it with a file (or as a reply to one): says what the file carries — Content Credentials and "
     "whether they check out, the IPTC AI label, and a Persona Studio watermark (and whether it is one of your "
     "own results). The file is not kept."),
    ("gallery", "Your latest images and videos", "/gallery [N] — your newest N results with their ids."),
    ("jobs", "Your running and recent jobs",
     "/jobs — what is queued, running and finished, each with its short id (#1a2b3c4d)."),
    ("cancel", "Cancel a job or the current step",
     "/cancel <job> stops a queued or running job (the first characters of its id are enough: /cancel 1a2b); "
     "sent as a reply to a job's status message it stops that job; /cancel alone leaves what you are doing "
     "(a new persona), else stops your job in progress, asking which when there are several; /cancel all stops "
     "every one."),
    ("done", "Finish sending persona photos", "/done — analyse the photos you sent for the new persona."),
    ("consent", "Confirm consent for a persona's photos",
     "/consent — confirm the photos show you, or someone who agreed to be turned into a persona."),
    ("settings", "Your defaults",
     "/settings — show your defaults; /settings <key> <value> sets one: ar (e.g. 4:5), n (1-4), steps, "
     "platform, motion (e.g. zoom-in), seconds (2-10); /settings <key> default clears it."),
    ("web", "Link to your downloads page",
     "/web — a private link to your downloads page, valid 24 h (only in a private chat, or as a Discord slash "
     "command, whose answer only you see); "
     "/web revoke invalidates every link sent so far."),
    ("link", "Link your Telegram and Discord accounts",
     "/link — get a code here; send /link <code> on your other account to share personas and results."),
    ("echo", "Check the service with a tiny job", "/echo <text> [--seconds N] — runs a no-model job end to end."),
)

HELP_BY_NAME = {name: text for name, _desc, text in COMMANDS}

WELCOME = (
    "Hi! I make images and videos of your AI personas.\n"
    "1. /persona new <name>, confirm consent, send 3-10 clear photos of one face, then /done.\n"
    "2. /imagine <name>: <what they are doing>.\n"
    "3. /animate or /export the results for your platforms.\n"
    "/help lists every command."
)


def overview() -> str:
    """All commands, one line each."""
    lines = ["Commands:"] + [f"/{name} — {desc}" for name, desc, _ in COMMANDS if name != "echo"]
    lines.append("Plain sentences work too: “Ava on a beach at sunset, 4:5, four versions”, “make a video of Ava”, "
                 "“export my last 3 for tiktok”, “always use 4:5”.")
    return "\n".join(lines)


def for_command(name: str) -> str:
    """Help for one command, or a pointer to the overview."""
    key = name.lower().lstrip("/")
    if key in HELP_BY_NAME:
        return HELP_BY_NAME[key]
    return f"There is no /{key}. {overview()}"


def menu() -> list[tuple[str, str]]:
    """(command, description) pairs for the platform's command menu."""
    return [(name, desc) for name, desc, _ in COMMANDS if name != "echo"]
