/* SPDX-License-Identifier: MIT */
/* Intrusive circular doubly-linked lists: O(1) insert and unlink with no
 * allocation; the link lives inside the object that is listed. */
#ifndef CIO_UTIL_LIST_H
#define CIO_UTIL_LIST_H

#include <stddef.h>
#include <stdbool.h>

typedef struct cio__link {
    struct cio__link *next, *prev;
} cio__link;

#define CIO__CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static inline void cio__list_init(cio__link *head) { head->next = head->prev = head; }
static inline bool cio__list_empty(const cio__link *head) { return head->next == head; }

static inline void cio__list_push_back(cio__link *head, cio__link *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void cio__list_push_front(cio__link *head, cio__link *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

/* Unlinks n and leaves it self-linked, so unlinking twice is harmless. */
static inline void cio__list_remove(cio__link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

static inline bool cio__linked(const cio__link *n) { return n->next != n && n->next != NULL; }

static inline cio__link *cio__list_pop_front(cio__link *head)
{
    cio__link *n = head->next;
    if (n == head)
        return NULL;
    cio__list_remove(n);
    return n;
}

#define cio__list_foreach_safe(it, tmp, head) \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif
