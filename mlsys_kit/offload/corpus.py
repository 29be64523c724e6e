"""The text the offloading topic trains its tiny GPT on: an essay written for this kit and placed in
the public domain (about 6 KB of plain ASCII, read character by character). A model with random
weights has no attention structure for InfiniGen's speculation to find; one trained for a few
seconds on this text has (see :mod:`mlsys_kit.offload.train`)."""

TEXT = """\
The Three Rooms of a Machine. An essay written for this kit and placed in the public domain.

A machine that runs a large model keeps its numbers in three rooms. The first room is small and
fast: it sits beside the arithmetic units, and a number kept there can be used at once. The second
room is larger and slower: it sits across a bus, and a number kept there must be carried in before
it can be used. The third room is the largest and the slowest: it sits on a disk, and a number kept
there must be read from the disk, carried across the bus, and only then used.

When the model is small, every number lives in the first room, and nobody thinks about the rooms at
all. When the model is large, the first room is too small to hold it, and the question of the rooms
becomes the only question that matters. Which numbers live in which room? When are they carried in?
When are they carried out again? And how can the carrying be hidden behind the arithmetic, so that
the arithmetic units never wait?

The weights of the model are the largest group of numbers. They do not change while the model
answers questions, so a weight that is carried in once can be used for many answers. The cache of
keys and values grows with every new word: each word that the model reads or writes leaves a key
and a value in every layer, and every later word looks back at all of them. The activations are the
smallest group: they live for one layer and are then forgotten.

A careful planner looks at the three groups and at the three rooms and writes a plan. The plan says
what share of the weights stays in the first room, what share waits in the second room, and what
share waits on the disk. It says the same for the cache and for the activations. It says how many
questions are answered together, because a weight that is carried in once should be used by as many
questions as possible before it is carried out again. This is the heart of the matter: the cost of
carrying a weight is paid once, and the benefit is shared by every question in the block.

There are two ways to walk through the work. The first way takes one batch of questions and walks
it through every layer, from the first to the last, and then takes the next batch and walks it
through every layer again. Each layer is carried in once for every batch. The second way takes one
layer and walks every batch of the block through it, and only then moves to the next layer. Each
layer is carried in once for the whole block. The second way zig-zags across the grid of layers and
batches, and it carries far fewer weights.

The cache needs a different trick. When the model writes a new word, the word looks back at every
earlier word, but it does not look at them equally. A few earlier words take most of its attention,
and the rest take very little. If the machine could guess which few words matter before it needs
them, it could carry in only their keys and values and leave the rest in the second room. The guess
must be cheap, or it is no help at all. One cheap guess uses a small part of the query and a small
part of each key: a few columns, chosen offline, that carry most of the weight of the product. The
guess is made one layer early, while the previous layer is still busy, so that the carrying hides
behind the arithmetic.

A good guess is a kind of memory of the model's own habits. The model tends to look at the word just
before, at the start of the sentence, at the last comma, at the word that opened a quote. A model
with random weights has no habits, and no guess can find what is not there. A model that has read
even a little text has habits, and the guess finds them.

So the planner and the guesser work together. The planner decides where the weights and the cache
live and in what order the work is done. The guesser decides which parts of the cache are worth
carrying for each new word. The arithmetic units, fed by both, keep busy, and the large model
answers its questions on a machine that could never hold it whole.

A Short Dialogue on Waiting.

The student asked the teacher: why does the machine wait? The teacher said: the machine waits
because a number it needs is in the wrong room. The student asked: then why not keep every number in
the right room? The teacher said: because the right room is small. The student asked: then why not
make the right room larger? The teacher said: because it is expensive, and because a larger room is
a slower room. The student asked: then what should we do? The teacher said: we should carry the
numbers early, carry them in large pieces, carry each one as few times as we can, and carry only the
ones we need.

The student wrote this down. Carry early. Carry in large pieces. Carry each one as few times as you
can. Carry only what you need. Then the student asked one more question: how do we know what we
need? The teacher said: look at what you needed last time. The student asked: and if that is wrong?
The teacher said: then you carry a little more, and you wait a little longer, and next time you
guess better.

A Note on Counting.

Every plan can be checked by counting. Count the bytes that cross the bus in each direction. Count
the bytes read from the disk and written to the disk. Count the arithmetic. Divide each count by the
speed of the path it takes, and the longest of the three is the time of the step when the carrying
hides behind the arithmetic; their sum is the time when it does not. A plan that looks clever but
counts badly is not clever. A plan that counts well is good, even if it looks plain.

The same counting tells the story of the guess. Without the guess, every word carries in the keys
and values of every earlier word, in every layer. With the guess, every word carries in only a
fraction of them, plus the small partial keys that the guess itself reads. If the fraction is small
and the guess is good, the bytes fall and the answer stays the same. If the fraction is too small,
the answer drifts. The right fraction is found by measuring, not by hoping.
"""
