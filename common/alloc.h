/* One allocator for all of ipsnet, swappable so that tests can count
 * allocations and fail the N-th one. protobuf-c gets the same allocator
 * through ipsnet_protobuf_allocator. */
#ifndef IPSNET_ALLOC_H
#define IPSNET_ALLOC_H

#include <stddef.h>

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

void *ipsnet_malloc(size_t size);
void *ipsnet_calloc(size_t count, size_t size);
void *ipsnet_realloc(void *ptr, size_t size);
void ipsnet_free(void *ptr);
/* A copy of s, or NULL when out of memory (or when s is NULL). */
char *ipsnet_strdup(const char *s);

struct ipsnet_allocator {
	void *(*malloc)(size_t size);
	void *(*realloc)(void *ptr, size_t size);
	void (*free)(void *ptr);
};

/* Replace the allocator (before any allocation is made, or in tests between
 * them). NULL restores the C library's. */
void ipsnet_replace_allocator(const struct ipsnet_allocator *a);

/* Pass to protobuf-c's unpack and free_unpacked. */
extern ProtobufCAllocator ipsnet_protobuf_allocator;

/* An allocator for one unpack of bytes a peer sent: it allocates (with
 * ipsnet_malloc) at most `left` bytes in all and then fails, so that a
 * frame crafted to decode into many small parts (half a million empty
 * sub-messages in 1 MiB) cannot make protobuf-c allocate a hundred times
 * its size, nor spend long doing it. What it allocated is freed as usual,
 * with ipsnet_protobuf_allocator. */
struct ipsnet_pb_budget {
	ProtobufCAllocator allocator; /* pass &b->allocator to unpack */
	size_t left;
	bool exceeded; /* an allocation was refused for want of budget */
};

/* What one frame of len bytes may decode into: a few times its size
 * (the structs and strings of an ordinary request) and a floor for the
 * smallest ones. */
#define IPSNET_PB_BUDGET(len) (4 * (size_t)(len) + 65536)

void ipsnet_pb_budget_init(struct ipsnet_pb_budget *b, size_t bytes);

#endif
