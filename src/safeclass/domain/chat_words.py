"""Words the chat check treats as bad language in pupils' chat at UK schools: a reviewed list,
kept as data in a module so that it installs with the package and is read without any file I/O.

Reviewed by hand for lessons with children, not copied from a general moderation list: those
flag words that lessons need (anatomy in science and RSE, "gay", "god", "hell", "kill", "Hitler"
in history) and miss British swearing. Children should know the right names for their body
parts (the NSPCC's PANTS rule), so those are never here. Mild words that many schools allow
(bloody, damn, hell, bum, stupid, shut up) are left out too: a school adds the words it wants
through its own list.

How a line is read (letters are matched after lowercasing, accents removed, look-alike letters
and numbers such as 0, 1, 3, 4, 5, $, @, ! read as letters, repeated letters squeezed, and
s-p-a-c-e-d or f.u.l.l s.t.o.p.p.e.d letters joined up):
  word         the whole word only: "cock" does not catch "cocktail" or "shuttlecock"
  word*        the word and any longer word starting with it: "shit*" catches "shitty"
  *word*       anywhere inside a word: only for words no innocent English word holds
  two words    a phrase: its words in this order, with spaces between
  !phrase      never a match: a phrase where a word above is innocent ("pussy cat")
  ~word        never a match: a word that a word* line would otherwise catch ("shitake")
"""

from __future__ import annotations

WORD_LIST = """\
# Strongest swearing
*fuck*
fck*
fcuk*
fuk
fuks
fukin
fuking
fukker
fukkin
fvck*
phuck*
fk
fkn
fking
fkin
cunt*
motherf*
twat*
wank*
~wankel

# Medium and strong swearing
shit*
~shitake
~shitzu
~shittim
shite
bullshit*
bitch*
bastard*
bollock*
arse
arses
arsehole*
ass
asses
asshole*
assholes
dumbass
jackass
smartass
dick
dicks
dickhead*
dickface
cock
cocks
cocksucker*
knobhead*
knobend
nobhead
bellend*
tosser*
piss*
prick
pricks
crap
crappy
bugger*
sod off
slag
slags
slut*
whore*
skank*
minge
nonce*
pussy
pussies
titties
titty
boobs
shag
shagged
shagging
sexy
horny
porn*
nudes
dildo*
boner

# Text speak for swearing
f off
f you
eff off
wtf
stfu
gtfo
ffs
omfg
lmfao
fml

# Unkind words meant to hurt: slurs, and telling someone to die
nigger*
nigga*
niggaz
paki
pakis
chink
chinks
spic
spics
wog
wogs
coon
coons
gyppo*
pikey*
kike
kikes
faggot*
fag
fags
dyke
dykes
tranny
trannies
retard
retards
retarded
spaz
spazz
spastic
mong
mongs
window licker
kys
kill yourself
kill urself
kill ur self
kill your self
go die

# Innocent phrases holding a word above
!pussy cat
!pussycat
!pussy-cat
!pussy willow
!puss in boots
!dick whittington
!moby dick
!spotted dick
!offa's dyke
!offas dyke
!prick her finger
!prick his finger
!prick your finger
!prick my finger
!prick their finger
"""
