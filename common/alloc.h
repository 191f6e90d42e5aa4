/* One allocator for all of ipsnet, swappable so that tests can count
 * allocations and fail the N-th one. protobuf-c gets the same allocator
 * through ipsnet_protobuf_allocator. */
#ifndef IPSNET_ALLOC_H
#define IPSNET_ALLOC_H

#include <stddef.h>

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

#endif
