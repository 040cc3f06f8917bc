/* An intrusive, circular, doubly linked list with a sentinel head (the shape of Linux's
 * list_head): a node lives inside the object it links, so linking allocates nothing, and every
 * operation is O(1) with no special case for the ends. An unlinked node points at itself. */
#ifndef SSEB_COMMON_LIST_H
#define SSEB_COMMON_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

/* The object that holds node as its member `member`. */
#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline void list_init(struct list_node *n)
{
    n->prev = n->next = n;
}

static inline bool list_empty(const struct list_node *head)
{
    return head->next == head;
}

/* Whether n is on a list (nodes are list_init'ed and unlinked with list_remove). */
static inline bool list_linked(const struct list_node *n)
{
    return n->next != n;
}

static inline void list_push_back(struct list_node *head, struct list_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void list_push_front(struct list_node *head, struct list_node *n)
{
    list_push_back(head->next, n);
}

/* Unlinks n (a no-op for an unlinked node) and leaves it unlinked. */
static inline void list_remove(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* The first node, or NULL when empty. */
static inline struct list_node *list_first(const struct list_node *head)
{
    return list_empty(head) ? NULL : head->next;
}

/* Iterates while allowing the current node to be removed. */
#define list_for_each_safe(pos, tmp, head)                                                         \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
