"""The simulator walks the schedule by popping each rank's next action off the caller's lists (an
argument changed in place): the timings are right, but the schedule the caller passed is empty
afterwards, so simulating it again with other costs finds nothing to run."""
EDITS = [("simulate", "            while pos[r] < len(schedule[r]):\n                kind, i = schedule[r][pos[r]]\n",
          "            while schedule[r]:\n                kind, i = schedule[r][0]\n"),
         ("simulate", "                pos[r] += 1\n", "                schedule[r].pop(0)\n")]
