#include "alloc.h"

#include <stdlib.h>
#include <string.h>

static struct ipsnet_allocator current = {malloc, realloc, free};

void ipsnet_replace_allocator(const struct ipsnet_allocator *a)
{
	if (a == NULL) {
		current = (struct ipsnet_allocator){malloc, realloc, free};
		return;
	}
	current = *a;
}

void *ipsnet_malloc(size_t size)
{
	return current.malloc(size == 0 ? 1 : size);
}

void *ipsnet_calloc(size_t count, size_t size)
{
	if (size != 0 && count > (size_t)-1 / size)
		return NULL;
	void *p = ipsnet_malloc(count * size);
	if (p != NULL)
		memset(p, 0, count * size);
	return p;
}

void *ipsnet_realloc(void *ptr, size_t size)
{
	return current.realloc(ptr, size == 0 ? 1 : size);
}

void ipsnet_free(void *ptr)
{
	if (ptr != NULL)
		current.free(ptr);
}

char *ipsnet_strdup(const char *s)
{
	if (s == NULL)
		return NULL;
	size_t n = strlen(s) + 1;
	char *copy = ipsnet_malloc(n);
	if (copy != NULL)
		memcpy(copy, s, n);
	return copy;
}

static void *pb_alloc(void *data, size_t size)
{
	(void)data;
	return ipsnet_malloc(size);
}

static void pb_free(void *data, void *ptr)
{
	(void)data;
	ipsnet_free(ptr);
}

ProtobufCAllocator ipsnet_protobuf_allocator = {pb_alloc, pb_free, NULL};

static void *budget_alloc(void *data, size_t size)
{
	struct ipsnet_pb_budget *b = data;
	if (size > b->left) {
		b->exceeded = true;
		return NULL;
	}
	void *p = ipsnet_malloc(size);
	if (p != NULL)
		b->left -= size;
	return p;
}

void ipsnet_pb_budget_init(struct ipsnet_pb_budget *b, size_t bytes)
{
	b->allocator.alloc = budget_alloc;
	b->allocator.free = pb_free;
	b->allocator.allocator_data = b;
	b->left = bytes;
	b->exceeded = false;
}
