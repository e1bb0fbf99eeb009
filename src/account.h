/*
 * account.h: the accounts' admission arithmetic (docs/accounts.md), inline
 * so that the wait queue (waitq.c) can ask it below account.c.  Under
 * pool->lock; pure reads of the tree.
 */
#ifndef BUFPOOL_ACCOUNT_H
#define BUFPOOL_ACCOUNT_H

#include "internal.h"

/*
 * May account a take b more bytes under every max on its path, and how
 * much of the reservations would that use (*credit: the drop of the top
 * level's unused, docs/accounts.md)?  A cap counts the unused
 * reservations of the other descendants below it: a's own request never
 * takes its children's, and a sibling's never takes a's.
 */
static inline bool bufpool__acct_admit(const struct bufpool_account *a, size_t b, size_t *credit)
{
    size_t others = a->kids_unused, old = a->unused, now;
    size_t use = a->use + b;
    if (use + others < use || use + others > a->max)
        return false;
    now = a->eff > use ? a->eff - use : 0;
    now = now > a->kids_unused ? now : a->kids_unused;
    for (const struct bufpool_account *p = a->parent; p; p = p->parent) {
        size_t kids = p->kids_unused - old + now; /* with the child's new unused */
        use = p->use + b;
        others = p->kids_unused - old;           /* the other children's */
        if (use + others < use || use + others > p->max)
            return false;
        old = p->unused;
        now = p->eff > use ? p->eff - use : 0;
        now = now > kids ? now : kids;
    }
    *credit = old - now;
    return true;
}

/* Does b exceed a max on a's path (a request that can never fit)? */
static inline bool bufpool__acct_never_fits(const struct bufpool_account *a, size_t b)
{
    for (; a; a = a->parent)
        if (b > a->max)
            return true;
    return false;
}

#endif /* BUFPOOL_ACCOUNT_H */
