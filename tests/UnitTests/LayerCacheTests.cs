using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Pipeline;

namespace Occystrap.UnitTests;

/// <remarks>Shares the process environment (SOURCE_DATE_EPOCH) with other tests of the collection: they run one at a time.</remarks>
[Collection("process environment")]
public sealed class LayerCacheTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static OptionValues Options(params (string, object)[] values) => new(values.ToDictionary(v => v.Item1, v => v.Item2));

    [Fact]
    public void The_pipeline_hash_changes_with_filters_options_the_sink_key_and_SOURCE_DATE_EPOCH()
    {
        var normalize = new[] { ("normalize-timestamps", Options()) };
        string baseHash = LayerCache.PipelineHash(normalize, "gzip");
        LayerCache.PipelineHash(normalize, "gzip").Should().Be(baseHash);
        LayerCache.PipelineHash(normalize, "zstd").Should().NotBe(baseHash);
        LayerCache.PipelineHash([("normalize-timestamps", Options(("ts", 5L)))], "gzip").Should().NotBe(baseHash);
        LayerCache.PipelineHash([], "gzip").Should().NotBe(baseHash);
        Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "100");
        try
        {
            LayerCache.PipelineHash(normalize, "gzip").Should().NotBe(baseHash);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", null);
        }
    }

    [Fact]
    public void Entries_from_two_instances_saved_at_once_are_all_kept()
    {
        string path = _dir["cache.json"];
        var caches = Enumerable.Range(0, 8).Select(_ => LayerCache.Open(path, NullLogger.Instance)).ToList();
        Parallel.For(0, caches.Count, i =>
        {
            var diffId = Digest.Sha256(i.ToString("x64"));
            caches[i].Record(diffId, "hash", new LayerResult(0, diffId, 10, new Descriptor(MediaTypes.OciLayerGzip, Digest.Sha256(new string('b', 63) + i), 5)), new BlobLocation("host", "repo"));
            caches[i].Save();
        });
        var reread = LayerCache.Open(path, NullLogger.Instance);
        for (int i = 0; i < caches.Count; i++)
            reread.Find(Digest.Sha256(i.ToString("x64")), "hash").Should().NotBeNull();
        Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Should().BeEquivalentTo("cache.json", "cache.json.lock");
    }

    [Fact]
    public void A_corrupt_cache_file_is_an_empty_cache()
    {
        File.WriteAllText(_dir["bad.json"], "{ not json");
        LayerCache.Open(_dir["bad.json"], NullLogger.Instance).Find(Digest.Sha256(new string('a', 64)), "x").Should().BeNull();
    }

    [Theory]
    [InlineData("registry://user:pa55@host/x:1", "registry://user:***@host/x:1")]
    [InlineData("fetch-to-tarfile bob:secret@reg.example img", "fetch-to-tarfile bob:***@reg.example img")]
    [InlineData("tar://./plain.tar", "tar://./plain.tar")]
    [InlineData("registry://host:5000/x:1", "registry://host:5000/x:1")]
    [InlineData("registry://user:pa/ss@host/x:1", "registry://user:***@host/x:1")]
    [InlineData("'registry://user:pa ss@host/x:1' has no scheme", "'registry://user:***@host/x:1' has no scheme")]
    [InlineData("host: manifest x: UNAUTHORIZED token Basic dXNlcjpwYXNz and Bearer eyJhbGciOi.x-y_z", "host: manifest x: UNAUTHORIZED token Basic *** and Bearer ***")]
    [InlineData("no at sign: BASIC dXNlcjpwYXNz, bearer abc.def", "no at sign: BASIC ***, bearer ***")]
    [InlineData("nothing to hide, basically", "nothing to hide, basically")]
    public void Credentials_in_text_are_redacted(string text, string shown)
    {
        SecretText.Redact(text).Should().Be(shown);
    }
}
