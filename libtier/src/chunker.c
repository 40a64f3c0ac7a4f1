#include "chunker.h"

#include "util/error.h"

/*
 * Gear table: splitmix64 outputs from the seed 0x7469657263646331
 * ("tiercdc1"), entry i being the (i+1)-th output.  A constant, not code, so
 * no one can change it by "improving" a generator; test_chunker.c
 * regenerates it and compares.  Never edit: vaults depend on it.
 */
static const uint64_t gear[256] = {
        0x5dd4de19931e603bull, 0x02fee43940fe55ffull, 0xebfd343993453c70ull,
        0x3a64b012a4277e93ull, 0x44ff54c01776735full, 0x5121bad7545fe856ull,
        0x39d15705a3fe05a6ull, 0xaeef1318dd984f9dull, 0x028a6e16654db108ull,
        0x462ae175d3989522ull, 0x84d8e5df6475926dull, 0x72e9d33378bdfec3ull,
        0x8c1e6b531480185full, 0xbd6fcf017db3cfbbull, 0x8863213b8dbc2a41ull,
        0x2b7a66e9bdab78ecull, 0xfb12fb100fec4d48ull, 0x099c7b78435c2463ull,
        0x17c0a9e0d48dfcdfull, 0x3911ea16898b81f0ull, 0xa6adf933e064ea1cull,
        0x80b2b5c0a129695aull, 0x4dc58743ec8e8dffull, 0x797fd253f6be377cull,
        0x199f1d5453007215ull, 0xddab1a315992ea6cull, 0xdd30eb6efce7a5dcull,
        0x9802032425f1e73eull, 0x8512906818c7c2ecull, 0x665421ac562339faull,
        0x9b6250ee9c045fc1ull, 0x4d91b26e0e8bb72bull, 0xc06b2e495df77831ull,
        0x4218a6561acc5ed3ull, 0xb33f69b72ed5a84eull, 0xf75093178b78f52full,
        0x2306b02f9d0177acull, 0x05fae8b0ee4f0951ull, 0xa69857ea7e0e16feull,
        0x3dc6e38b6886f524ull, 0xdf2aace319383ad1ull, 0x5c9dda49d7d6f3e3ull,
        0x9b214b888661f7ddull, 0x86773cb30532f044ull, 0x6540e1eca0e06ceaull,
        0xcd8e8493d4ba241bull, 0x759f394bf07297dbull, 0x1648186c96b18e03ull,
        0x7b6de94a0b36f759ull, 0x71e641fddf5f19f5ull, 0x315bbb825a9fe01eull,
        0x48ac1da9470dc448ull, 0x14eba5720cb96aeaull, 0x85f1ea66031636bcull,
        0x8ebf378a3172df78ull, 0x7b86f6e3baffeda1ull, 0xca437c58e66e5590ull,
        0xf1fccafd5b533dceull, 0xd85f530e3553edf3ull, 0x8a525787e55f67c1ull,
        0x06a04152b814144aull, 0x628d74c6e731b746ull, 0xc6f558857c0fcbb8ull,
        0xce66aaa126103c04ull, 0xb1dea920f5ddd706ull, 0x3e31e29b41c7c5afull,
        0xf7d93b637d6b674full, 0x41a465610c2eca9full, 0xe2c972e41e0e1a65ull,
        0xdc6b538a338e81a5ull, 0xb55a4da5bb99ab0cull, 0xef7a205aa757e63dull,
        0x0ce672cafb9b4c71ull, 0xf24669fa51693656ull, 0x1906fdeb422d60b3ull,
        0x99cb2a8bfd6c35d4ull, 0x07ed27287de175fdull, 0x69050de1669895c5ull,
        0x2d1010d547a65ce3ull, 0x24e18d7cc82a8294ull, 0xc85ef5a0c5517fbcull,
        0x9be6a6be8c293c6full, 0x6a18dd617f40f0a3ull, 0x5be3e02792e91662ull,
        0x1547772d5a0925efull, 0xa42366266361223full, 0x9cc52aa553585851ull,
        0x11ca0e7464ae8941ull, 0x3ecaccdf8d5eb2f7ull, 0xf2680b06fd1a4863ull,
        0xc46b545c029a5f19ull, 0xf44e473feb85d52cull, 0xe72e839fa78c2e18ull,
        0xd79701a31b8f0205ull, 0xd1925528249e8acbull, 0x42a251f8d52dd649ull,
        0xd3781258db728f93ull, 0x38eb9364c9b0571full, 0x40a37dad7baf9a96ull,
        0x730e92f6a10b6be7ull, 0x60598f20f12dab45ull, 0x00523350379bff74ull,
        0x22d10349e18c85acull, 0xef6a62808c7e70ffull, 0x3aea1511bba274e4ull,
        0xc4264d3d16b24c0cull, 0x960e9e36b90cc350ull, 0x4bc70334d24d706cull,
        0x04faab753de4fd81ull, 0x6168da6415a684a9ull, 0x99bee0fc1a94ac86ull,
        0x09a29f5e272ca41dull, 0x8c3daffa4059b3ccull, 0x87e31675480036d6ull,
        0x4b359fb66f9e197dull, 0x86347926ac05f6b1ull, 0x91edfc52a8591bccull,
        0x4c060e3a09d4beccull, 0xc3e57fdd0560cbdbull, 0x94df63b432ce49d6ull,
        0x9c79f48d62181d2bull, 0x5661d8488c6688a8ull, 0x28dff837b9145b55ull,
        0x06f99040f8a49d13ull, 0xd4093ede2b08d41aull, 0x6d8bfa6d10ec3735ull,
        0xa20f18cc17ded156ull, 0x6047efe9ef32a7d7ull, 0xeb27c0e76cbe28d4ull,
        0x6edad29e8e21b220ull, 0x09eaaf22f4834a32ull, 0xa177e96ad16441feull,
        0x55a202e2fc96685full, 0xc161ade631020981ull, 0x37351aa9e5195836ull,
        0xd5fc401fc3b8038bull, 0x3c78a6aa8b64d10aull, 0x109e963ecb007127ull,
        0x114ef00395243e79ull, 0xb1148ed014b868b8ull, 0x554f6c634fbe1756ull,
        0xbc8ccadd63e2173dull, 0x1aab303b2cfdff6cull, 0x2aa0f140a1e5e0adull,
        0x33b2d795425d4c60ull, 0x4e2d0a7187a53179ull, 0x3d683053432b5dffull,
        0x9bb869890a372b20ull, 0x76ab126ba63aa8e3ull, 0x739943107e8ed617ull,
        0x2f935a6464ad1226ull, 0xbcd4423700102b17ull, 0xc2cadba671f3b525ull,
        0xcc66ec687d435c36ull, 0x5a490f68c8878737ull, 0x0590275350b0e2a5ull,
        0xb60bac3ad443dfa9ull, 0x648f0d2077ee5eceull, 0x2b26b3b891fa42bdull,
        0x6866203d0b2876ccull, 0x1e33f9740ca260a1ull, 0x2387a8636082a2b9ull,
        0x2f62c5fecfda4548ull, 0xb436a485dfe5a3f1ull, 0x5a8cb0ed1242097dull,
        0xa716c2584fb9c328ull, 0x7a0be0edde48dfc6ull, 0xf0c1274fddc68b11ull,
        0x51d6a05c6a06d1beull, 0xb8ede3599a3ce1c9ull, 0x8c01769da3952406ull,
        0x85e191be631ba6e1ull, 0xb5940ab54dcd839dull, 0x429d4d2fc28d66b3ull,
        0xf8c91b2116dbdc09ull, 0x44ae0586f719f122ull, 0xae490e62e60d6361ull,
        0x07a44c78a0d3a54eull, 0xd152796d14453601ull, 0x39e48647b13892edull,
        0xf823e61f1563ba4dull, 0xd0475b62f2602194ull, 0x6af70c4c2c6b1d69ull,
        0xe4f7ee2eb293dd69ull, 0x0563e67a2ab2ff67ull, 0x9d611d9d8ea43ddaull,
        0x117f50c8b1a5b0b5ull, 0x5c07c4befb3be046ull, 0x97a1d20811928637ull,
        0xe16bbf1631fbc135ull, 0x68d6be573bf3ee1full, 0xbd627655b3e95e68ull,
        0xb129d59a5404f174ull, 0x70a7ff3d016075d8ull, 0x30909efe76ad422aull,
        0xf63459f79ed3cd0eull, 0x9a0a58f44986b3d7ull, 0x2c2ab84df6f2601eull,
        0xe724e0532e6ac549ull, 0xe568e8adafe53a1aull, 0xd44b01de36457963ull,
        0x346f46c74ce96ebaull, 0xaf20b738f9ef72d6ull, 0x3b7e7030a34b8f65ull,
        0xd0d69c1dd13019d6ull, 0x95a196883e7367b3ull, 0x2c6c0f0465f4b186ull,
        0x143ed6c5a0d74236ull, 0x32f0a10715e330d5ull, 0xbd0f2d0b5f8dde7dull,
        0x60b08d80bfe0c877ull, 0xab5f0a7555e4ff56ull, 0x31ce22edbdf07b37ull,
        0x3791256d5829fc30ull, 0xcda5fbe99d3e8828ull, 0x46c883b35e33e80cull,
        0x995db4e08811479eull, 0x2664549b7fd3cf44ull, 0x4a2df4d7b52c2b8bull,
        0x9f42bfd2801ce3e5ull, 0x33a74b1462331371ull, 0x853796d562cb1035ull,
        0xd84c61123a81dc1full, 0x0b3dc4c155f03996ull, 0x40f96bdf38c75cdfull,
        0xb3aa6679cb0444aaull, 0xbd0671fb28bc781full, 0xa813218d9c72d2adull,
        0x25c515ae3d32718aull, 0x13a245c9efaedb6dull, 0x40921ad3bd0a8a7cull,
        0x14862bb98182c103ull, 0x457ec20c28a2f24aull, 0x9225004d4a825481ull,
        0x2e60f49b21460e2full, 0x0dae08a13eb8c78full, 0x894e97a3424a03b7ull,
        0x379de56090469535ull, 0x4ae4e913fa43c349ull, 0x7a484ef606f2d0fcull,
        0xdc140f097a831ae7ull, 0xcd3a2b9c8881edc3ull, 0xaa72ad8ec53651ccull,
        0x069d39357a59de9full, 0x3608cf3c55e9d9daull, 0xd4672bc831312806ull,
        0x22f302e47256b274ull, 0x8c02fabb07f54e42ull, 0x526493db269ac82dull,
        0xb41d0cef6366cb2cull, 0xd3732f3ffe578313ull, 0x8aab67ec13a4a3c3ull,
        0x2f611d6b88f926d0ull, 0xffef9ef07e5ad1a0ull, 0xd6492840c922743bull,
        0x8294c5e924f76ca6ull,
};

const uint64_t *tier_chunker_gear(void)
{
	return gear;
}

static unsigned int log2_exact(uint32_t v)
{
	unsigned int n = 0;
	while ((1u << n) < v)
		n++;
	return n;
}

int tier_chunker_params_check(const tier_chunker_params *p)
{
	static const tier_chunker_params def = TIER_CHUNKER_PARAMS_INIT;
	if (!p)
		p = &def;
	if (p->min < 64 || p->avg <= p->min || p->max < p->avg ||
	    p->max > TIER_CHUNKER_LIMIT)
		return tier_error_set(
		        TIER_EUSAGE,
		        "invalid chunker sizes %u/%u/%u: need 64 <= min < avg <= max <= %u",
		        p->min, p->avg, p->max, TIER_CHUNKER_LIMIT);
	if (p->avg & (p->avg - 1))
		return tier_error_set(
		        TIER_EUSAGE,
		        "invalid chunker average %u: not a power of two",
		        p->avg);
	if (p->norm > 3)
		return tier_error_set(
		        TIER_EUSAGE,
		        "invalid chunker normalisation level %u: use 0 to 3",
		        p->norm);
	return 0;
}

/* A mask of the n top bits: with h = 2h + g, bit k of the gear hash mixes
 * the last k + 1 bytes, so the top bits see the whole 64-byte window. */
static uint64_t top_bits(unsigned int n)
{
	return n == 0 ? 0 : ~(uint64_t)0 << (64 - n);
}

int tier_chunker_init(tier_chunker *c, const tier_chunker_params *p)
{
	static const tier_chunker_params def = TIER_CHUNKER_PARAMS_INIT;
	int rc;
	if (!p)
		p = &def;
	if ((rc = tier_chunker_params_check(p)) < 0)
		return rc;
	unsigned int bits = log2_exact(p->avg);
	c->p = *p;
	c->mask_s = top_bits(bits + p->norm);
	c->mask_l = top_bits(bits - p->norm);
	tier_chunker_reset(c);
	return 0;
}

void tier_chunker_reset(tier_chunker *c)
{
	c->h = 0;
	c->pos = 0;
}

size_t tier_chunker_scan(tier_chunker *c, const void *data, size_t len,
                         int *cut)
{
	const unsigned char *p = data;
	const size_t first = c->p.min - 1; /* offset of the first hashed byte */
	size_t pos = c->pos, i = 0, end;
	uint64_t h = c->h;

	*cut = 0;
	if (pos < first) {
		if (first - pos >= len) {
			c->pos = pos + len;
			return len;
		}
		i = first - pos;
		pos = first;
	}

	/* pos is now the offset in the chunk of p[i]; h covers p[..i). */
	if (pos < (size_t)c->p.avg - 1) {
		const uint64_t m = c->mask_s;
		size_t n = c->p.avg - 1 - pos;
		if (n > len - i)
			n = len - i;
		for (end = i + n; i < end; i++) {
			h = (h << 1) + gear[p[i]];
			if (!(h & m))
				goto cut_after;
		}
		pos += n;
		if (i == len)
			goto need_more;
	}
	{
		const uint64_t m = c->mask_l;
		size_t n = c->p.max - pos;
		if (n > len - i)
			n = len - i;
		for (end = i + n; i < end; i++) {
			h = (h << 1) + gear[p[i]];
			if (!(h & m))
				goto cut_after;
		}
		pos += n;
		if (pos == c->p.max) {
			i--; /* forced cut after the max-th byte */
			goto cut_after;
		}
	}

need_more:
	c->pos = pos;
	c->h = h;
	return len;

cut_after:
	c->pos = 0;
	c->h = 0;
	*cut = 1;
	return i + 1;
}

size_t tier_chunker_finish(tier_chunker *c)
{
	size_t n = c->pos;
	tier_chunker_reset(c);
	return n;
}
