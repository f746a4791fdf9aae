"""Confusable skeletons: one string for texts that look alike, so that a look-alike can be told
from the original by comparing skeletons (Unicode's UTS #39 "skeleton", simplified).

``skeleton(text)`` folds what a reader cannot see the difference of:
- compatibility forms, by NFKC: fullwidth ``Ａ``, mathematical ``𝐀``, ``ℍ``, ligatures, superscripts;
- format characters (category Cf): zero-width spaces and joiners, soft hyphens, bidi marks;
- letters and digits of other scripts drawn like a Latin letter or digit, by ``LOOKALIKES``:
  Cyrillic ``а``, Greek ``Α``, Armenian ``օ``, Cherokee ``Ꭺ``…, and ``0``/``1`` as ``O``/``l``;
- case, by casefolding (after the map, and the map again after it, so that capital Greek Nu
  ``Ν`` folds as ``N`` while small ``ν`` folds as ``v``, the letters they look like).

``LOOKALIKES`` is the part of Unicode's confusables.txt (UTS #39, version 13.0) whose source is
a single letter or digit left as it is by NFKC and whose prototype is a single ASCII letter or
digit, with two changes: the capitals drawn as ``I`` (Greek Iota, Cyrillic I…) map to ``I``,
not to the standard's ``l``, since case is folded afterwards and Latin ``I`` must meet them; and
of the standard's ASCII-to-ASCII entries only ``0`` -> ``O`` and ``1`` -> ``l`` are kept (``I``
-> ``l`` would fold "ADMIN" apart from "admin", and ``m`` -> ``rn`` would join too many real
names). Look-alikes made of several characters (``rn`` for ``m``), or between two non-Latin
scripts, are not folded. No well-kept package on PyPI computes UTS #39 skeletons (the
maintained ones detect mixed scripts or list homoglyphs), hence this table.

Characters outside the table are kept, so a skeleton is for comparing, never for showing.
"""

from __future__ import annotations

import unicodedata

# target: the characters drawn like it. Right-to-left and astral characters as escapes, so
# that an editor shows the lines as they are.
LOOKALIKES: dict[str, str] = {
    "2": "ƧϨᒿꙄꛯꝚ",
    "3": "ƷȜЗӠⳌꝪꞫ\U000118ca\U00016f3b",
    "4": "Ꮞ\U000118af",
    "5": "Ƽ\U000118bb",
    "6": "бᏮⳒ\U000118d5",
    "7": "\U000104d2\U000118c6",
    "8": "Ȣȣ৪੪\U0001031a\U0001e8cb",
    "9": "৭੧୨൭ⳊꝮ\U000118ac\U000118cc\U000118d6",
    "A": "ΑАᎪᗅꓮ\U000102a0\U00016f40",
    "B": "ΒВᏴᗷꓐꞴ\U00010282\U000102a1\U00010301",
    "C": "СᏟⲤꓚ\U000102a2\U00010302\U00010415\U0001051c\U000118e9\U000118f2",
    "D": "Ꭰᗞᗪꓓ",
    "E": "ΕЕᎬⴹꓰ\U00010286\U000118a6\U000118ae",
    "F": "ϜᖴꓝꞘ\U00010287\U000102a5\U00010525\U000118a2\U000118c2",
    "G": "ԌᏀᏳꓖ",
    "H": "ΗНᎻᕼⲎꓧ\U000102cf",
    "I": "ƖΙІӀⲒ",
    "J": "ͿЈᎫᒍꓙꞲ",
    "K": "ΚКᏦᛕⲔꓗ\U00010518",
    "L": "ᏞᒪⳐꓡ\U0001041b\U00010526\U000118a3\U000118b2\U00016f16",
    "M": "ΜϺМᎷᗰᛖⲘꓟ\U000102b0\U00010311",
    "N": "ΝⲚꓠ\U00010513",
    "O": "0ΟОՕ\u07c0০ଠ୦ዐⲞⵔ〇ꓳ\U00010292\U000102ab\U00010404\U000104c2\U00010516\U000114d0\U000118b5\U000118e0",
    "P": "ΡРᏢᑭⲢꓑ\U00010295",
    "Q": "ⵕ",
    "R": "ƦᎡᏒᖇꓣ\U000104b4\U00016f35",
    "S": "ЅՏᏕᏚꓢ\U00010296\U00010420\U00016f3a",
    "T": "ΤТᎢⲦꓔ\U00010297\U000102b1\U00010315\U000118bc\U00016f0a",
    "U": "Սሀᑌꓴ\U000104ce\U000118b8\U00016f42",
    "V": "Ѵ\u0667۷Ꮩᐯⴸꓦꛟ\U0001051d\U000118a0\U00016f08",
    "W": "ԜᎳᏔꓪ\U000118e6\U000118ef",
    "X": "ΧХᚷⲬⵝꓫꞳ\U00010290\U000102b4\U00010317\U00010322\U00010527\U000118ec",
    "Y": "ΥУҮᎩᎽⲨꓬ\U000102b2\U000118a4\U00016f43",
    "Z": "ΖᏃꓜ\U000102f5\U000118a9\U000118e5",
    "a": "ɑαа",
    "b": "ƄЬᏏᑲᖯ",
    "c": "сᴄⲥꮯ\U0001043d",
    "d": "ԁᏧᑯꓒ",
    "e": "еҽꬲ",
    "f": "քẝꞙꬵ",
    "g": "ƍɡցᶃ",
    "h": "һհᏂ",
    "i": "ıɩɪιіӏᎥꙇꭵ\U000118c3",
    "j": "ϳј",
    "l": "1ǀ\u05d5\u05df\u0627\u0661۱\u07caᛁⵏꓲ\U0001028a\U00010309\U00010320\U00016f28\U0001e8c7",
    "n": "ոռ",
    "o": "οσоօ\u05e1\u0647\u0665\u06be\u06c1\u06d5۵०੦૦௦౦೦ഠ൦๐໐ဝ၀ჿᴏᴑⲟꬽ\U0001042c\U000104ea\U000118c8\U000118d7",
    "p": "ρрⲣ",
    "q": "ԛգզ",
    "r": "гᴦⲅꭇꭈꮁ",
    "s": "ƽѕꜱꮪ\U00010448\U000118c1",
    "u": "ʋυսᴜꞟꭎꭒ\U000104f6\U000118d8",
    "v": "νѵ\u05d8ᴠꮩ\U00011706\U000118c0",
    "w": "ɯѡԝաᴡꮃ\U0001170a\U0001170e\U0001170f",
    "x": "хᕁᕽ",
    "y": "ɣʏγуүყᶌỿꭚ\U000118dc",
    "z": "ᴢꮓ\U000118c4",
}

_FOLD = str.maketrans(
    {source: target for target, sources in LOOKALIKES.items() for source in sources}
)


def skeleton(text: str) -> str:
    """The skeleton of ``text``: equal for texts a reader would take for the same one (see the
    module's docstring for what is folded). ``skeleton(skeleton(t)) == skeleton(t)``."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = unicodedata.normalize("NFD", text).translate(_FOLD)
    text = unicodedata.normalize("NFD", text.casefold()).translate(_FOLD)
    return unicodedata.normalize("NFC", text)
