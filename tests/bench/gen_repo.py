#!/usr/bin/env python3
# gen_repo.py DIR COMMITS [FILES] [SEED]: makes a git repository with a realistic
# shape quickly (git fast-import): a tree of FILES source files in nested
# directories, COMMITS commits that each edit a few files (a few lines changed),
# now and then add or delete a file, side branches merged back every ~200
# commits, tags every ~500. Used by the download benchmark and fault test.
import os, random, subprocess, sys

def main():
    d, ncommits = sys.argv[1], int(sys.argv[2])
    nfiles = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 7)
    subprocess.run(["git", "init", "-q", "--bare", d], check=True)
    p = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=d, stdin=subprocess.PIPE)
    out = p.stdin
    words = ["int", "return", "static", "void", "char", "if", "for", "while", "size_t", "buf", "len", "err",
             "ctx", "node", "list", "next", "value", "key", "hash", "free", "malloc", "struct", "const"]
    def line():
        return " ".join(rnd.choice(words) for _ in range(rnd.randint(3, 12))) + ";\n"
    dirs = ["src", "src/core", "src/net", "src/util", "lib", "lib/ext", "tests", "tests/unit", "docs", "deps/x/y"]
    files = {}
    for i in range(nfiles):
        path = "%s/f%04d.%s" % (rnd.choice(dirs), i, rnd.choice(["c", "h", "md", "py"]))
        files[path] = [line() for _ in range(rnd.randint(20, 200))]
    mark = [0]
    def blob(lines):
        mark[0] += 1
        data = "".join(lines).encode()
        out.write(b"blob\nmark :%d\ndata %d\n" % (mark[0], len(data)) + data + b"\n")
        return mark[0]
    t = 1500000000
    heads = {"master": None}
    def commit(branch, changes, deletes, parents, msg):
        nonlocal t
        t += rnd.randint(60, 7200)
        marks = [(pth, blob(lines)) for pth, lines in changes]
        mark[0] += 1
        m = msg.encode()
        who = rnd.choice(["Ann <ann@example.org>", "Bob <bob@example.org>", "Chi <chi@example.org>"])
        out.write(b"commit refs/heads/%s\nmark :%d\n" % (branch.encode(), mark[0]))
        out.write(b"author %s %d +0100\ncommitter %s %d +0100\n" % (who.encode(), t, who.encode(), t))
        out.write(b"data %d\n%s\n" % (len(m), m))
        if parents:
            out.write(b"from :%d\n" % parents[0])
            for q in parents[1:]:
                out.write(b"merge :%d\n" % q)
        for pth, bm in marks:
            out.write(b"M 100644 :%d %s\n" % (bm, pth.encode()))
        for pth in deletes:
            out.write(b"D %s\n" % pth.encode())
        out.write(b"\n")
        heads[branch] = mark[0]
        return mark[0]
    commit("master", list(files.items()), [], [], "initial import")
    side = None
    for i in range(1, ncommits):
        branch = "master"
        if i % 200 == 150:
            side = heads["master"]
            heads["side"] = side
        if side is not None and 150 <= i % 200 < 170:
            branch = "side"
        changes, deletes = [], []
        for _ in range(rnd.randint(1, 4)):
            pth = rnd.choice(list(files))
            lines = files[pth]
            for _ in range(rnd.randint(1, 5)):
                lines[rnd.randrange(len(lines))] = line()
            if rnd.random() < 0.3:
                lines.insert(rnd.randrange(len(lines)), line())
            changes.append((pth, list(lines)))
        if rnd.random() < 0.02:
            pth = "%s/n%05d.c" % (rnd.choice(dirs), i)
            files[pth] = [line() for _ in range(rnd.randint(10, 100))]
            changes.append((pth, files[pth]))
        if rnd.random() < 0.01 and len(files) > 10:
            pth = rnd.choice(list(files))
            if pth not in [c[0] for c in changes]:
                del files[pth]
                deletes.append(pth)
        parents = [heads[branch]]
        if branch == "master" and i % 200 == 175 and side is not None:
            parents.append(heads["side"])
            side = None
        commit(branch, changes, deletes, parents, "change %d\n\nedit %d files" % (i, len(changes)))
        if i % 500 == 0:
            out.write(b"reset refs/tags/v%d\nfrom :%d\n\n" % (i // 500, heads["master"]))
    out.close()
    if p.wait() != 0:
        sys.exit("git fast-import failed")
    subprocess.run(["git", "gc", "-q"], cwd=d, check=True)

main()
