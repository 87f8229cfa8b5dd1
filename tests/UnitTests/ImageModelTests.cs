using System.Text;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.UnitTests;

public sealed class ImageModelTests
{
    private static readonly string ConfigDigest = "sha256:" + new string('c', 64);
    private static readonly string LayerDigest = "sha256:" + new string('1', 64);

    private static string Manifest(string extra = "") =>
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
        $"\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{ConfigDigest}\",\"size\":7}}," +
        $"\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"{LayerDigest}\",\"size\":42,\"annotations\":{{\"a\":\"b\"}},\"x-layer\":1}}]{extra}}}";

    [Fact]
    public void A_manifest_is_read_typed_and_unknown_members_survive_a_change()
    {
        var m = ImageManifest.Parse(Encoding.UTF8.GetBytes(Manifest(",\"x-top\":{\"k\":[1,2]},\"annotations\":{\"org.example\":\"v\"}")), "m");
        m.Format.Should().Be(ManifestFormat.Oci);
        m.Config.Digest.ToString().Should().Be(ConfigDigest);
        m.Layers.Should().ContainSingle().Which.Size.Should().Be(42);
        m.Annotations!["org.example"].Should().Be("v");

        var newConfig = new Descriptor(MediaTypes.OciConfig, Digest.Compute("{}"u8), 2);
        string rewritten = Encoding.UTF8.GetString(m.With(config: newConfig).ToBytes());
        rewritten.Should().Contain("\"x-top\":{\"k\":[1,2]}").And.Contain("\"x-layer\":1").And.Contain("\"org.example\":\"v\"")
            .And.Contain(newConfig.Digest.ToString()).And.NotContain(ConfigDigest);
        var docker = ImageManifest.Parse(m.With(format: ManifestFormat.Docker).ToBytes(), "d");
        docker.MediaType.Should().Be(MediaTypes.DockerManifest);
    }

    [Theory]
    [InlineData("{\"schemaVersion\":1,\"fsLayers\":[]}", "schema 1")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}", "no config")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:abc\",\"size\":1}}", "not a valid digest")]
    [InlineData("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:" + "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" + "\",\"size\":-1}}", "negative")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("{", "not valid JSON")]
    public void A_bad_manifest_is_one_clear_error(string json, string says)
    {
        var act = () => ImageManifest.Parse(Encoding.UTF8.GetBytes(json), "manifest of x");
        act.Should().Throw<OccystrapException>().WithMessage($"*manifest of x*{says}*");
    }

    private static Descriptor Entry(string os, string arch, string? variant = null) =>
        new(MediaTypes.OciManifest, Digest.Compute(Encoding.UTF8.GetBytes(os + arch + variant)), 1) { Platform = new Platform(os, arch, variant) };

    [Fact]
    public void The_platform_rule_prefers_an_exact_variant_then_none_and_knows_the_arm_defaults()
    {
        var amd = Entry("linux", "amd64");
        var armV6 = Entry("linux", "arm", "v6");
        var armV7 = Entry("linux", "arm", "v7");
        var arm64 = Entry("linux", "arm64");
        var arm64V8 = Entry("linux", "arm64", "v8");
        var attestation = Entry("unknown", "unknown");
        PlatformRule.Choose([attestation, amd, arm64, arm64V8], new PlatformChoice("linux", "amd64", null), "x").Should().Be(amd);
        PlatformRule.Choose([arm64, arm64V8], new PlatformChoice("linux", "arm64", null), "x").Should().Be(arm64V8, "arm64 means v8");
        PlatformRule.Choose([arm64], new PlatformChoice("linux", "arm64", "v8"), "x").Should().Be(arm64, "an entry without a variant comes next");
        PlatformRule.Choose([armV6, armV7], new PlatformChoice("linux", "arm", null), "x").Should().Be(armV7, "arm means v7");
        PlatformRule.Choose([armV6, armV7], new PlatformChoice("linux", "arm", "v6"), "x").Should().Be(armV6);
        PlatformRule.Choose([armV6], new PlatformChoice("linux", "arm", null), "x").Should().Be(armV6, "with no variant asked for, any of the architecture will do");
        var act = () => PlatformRule.Choose([armV6, amd, attestation], new PlatformChoice("linux", "arm", "v7"), "reg/x:1");
        act.Should().Throw<OccystrapException>().WithMessage("reg/x:1 has no image for linux/arm/v7; it has: linux/arm/v6, linux/amd64, unknown/unknown");
    }

    [Theory]
    [InlineData(MediaTypes.DockerLayerGzip, LayerCompression.Gzip)]
    [InlineData(MediaTypes.OciLayerGzip, LayerCompression.Gzip)]
    [InlineData(MediaTypes.OciLayerZstd, LayerCompression.Zstd)]
    [InlineData(MediaTypes.OciLayer, LayerCompression.None)]
    [InlineData(MediaTypes.DockerLayer, LayerCompression.None)]
    [InlineData(MediaTypes.DockerForeignLayerGzip, LayerCompression.Gzip)]
    [InlineData("application/vnd.example.layer.v1.tar+zstd", LayerCompression.Zstd)]
    public void The_media_type_table_knows_each_layer_types_compression(string mediaType, LayerCompression compression)
    {
        MediaTypeTable.LayerCompressionOf(mediaType).Should().Be(compression);
    }

    [Fact]
    public void The_media_type_table_maps_docker_types_to_oci_and_back_and_knows_what_has_no_docker_form()
    {
        MediaTypeTable.LayerCompressionOf("application/json").Should().BeNull();
        MediaTypeTable.InFormat(MediaTypes.DockerLayerGzip, ManifestFormat.Oci).Should().Be(MediaTypes.OciLayerGzip);
        MediaTypeTable.InFormat(MediaTypes.OciLayerGzip, ManifestFormat.Docker).Should().Be(MediaTypes.DockerLayerGzip);
        MediaTypeTable.InFormat(MediaTypes.DockerManifestList, ManifestFormat.Oci).Should().Be(MediaTypes.OciIndex);
        MediaTypeTable.InFormat(MediaTypes.OciLayerZstd, ManifestFormat.Docker).Should().Be(MediaTypes.OciLayerZstd);
        MediaTypeTable.HasFormOf(MediaTypes.OciLayerZstd, ManifestFormat.Docker).Should().BeFalse();
        ManifestBuilder.FormatFor(null, [new Descriptor(MediaTypes.OciLayerZstd, Digest.Compute([]), 0)]).Should().Be(ManifestFormat.Oci);
        ManifestBuilder.FormatFor(null, [new Descriptor(MediaTypes.DockerLayerGzip, Digest.Compute([]), 0)]).Should().Be(ManifestFormat.Docker);
    }

    [Fact]
    public void A_config_is_read_typed_and_a_diff_id_change_keeps_every_other_member()
    {
        string diff = "sha256:" + new string('d', 64);
        byte[] config = Encoding.UTF8.GetBytes("{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"created\":\"2024-01-02T03:04:05Z\",\"author\":\"me\"," +
            "\"config\":{\"Env\":[\"A=1\"],\"Entrypoint\":[\"/bin/tini\"],\"Cmd\":[\"run\"],\"WorkingDir\":\"/app\",\"User\":\"1000\"," +
            "\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":{\"/data\":{}},\"Labels\":{\"l\":\"v\"},\"StopSignal\":\"SIGTERM\",\"ArgsEscaped\":true}," +
            $"\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{diff}\"]}},\"history\":[{{\"created_by\":\"ENV A=1\",\"empty_layer\":true}},{{\"created_by\":\"COPY . /app\",\"comment\":\"c\"}}],\"x-unknown\":[true]}}");
        var c = ImageConfig.Parse(config);
        c.Platform.ToString().Should().Be("linux/arm64/v8");
        c.Created.Should().Be(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero));
        c.Author.Should().Be("me");
        c.Config.Env.Should().Equal("A=1");
        c.Config.Entrypoint.Should().Equal("/bin/tini");
        c.Config.Cmd.Should().Equal("run");
        c.Config.WorkingDir.Should().Be("/app");
        c.Config.User.Should().Be("1000");
        c.Config.ExposedPorts.Should().Equal("80/tcp");
        c.Config.Volumes.Should().Equal("/data");
        c.Config.Labels!["l"].Should().Be("v");
        c.Config.StopSignal.Should().Be("SIGTERM");
        c.Config.ArgsEscaped.Should().BeTrue();
        c.DiffIds.Select(d => d.ToString()).Should().Equal(diff);
        c.LayerHistory.Should().ContainSingle().Which.CreatedBy.Should().Be("COPY . /app");

        ImageConfig.WithDiffIds(config, c.DiffIds).ToArray().Should().Equal(config, "an unchanged config keeps its bytes");
        var other = Digest.Compute("x"u8);
        string changed = Encoding.UTF8.GetString(ImageConfig.WithDiffIds(config, [other]).Span);
        changed.Should().Contain(other.ToString()).And.NotContain(diff).And.Contain("\"x-unknown\":[true]").And.Contain("\"StopSignal\":\"SIGTERM\"");
    }

    [Fact]
    public void Digests_of_both_algorithms_are_computed_and_verified()
    {
        byte[] data = "hello"u8.ToArray();
        var sha512 = Digest.Compute(data, "sha512");
        sha512.Hex.Should().HaveLength(128);
        sha512.Matches(data).Should().BeTrue();
        Digest.Parse(sha512.ToString()).Should().Be(sha512);
        var act = () => sha512.Verify("other"u8, "blob x");
        act.Should().Throw<DigestMismatchException>().WithMessage("blob x: digest mismatch, expected sha512:*");
        using var stream = new Occystrap.Formats.IO.HashingReadStream(new MemoryStream("other"u8.ToArray()), sha512, "blob y");
        var read = () => stream.CopyTo(Stream.Null);
        read.Should().Throw<DigestMismatchException>().WithMessage("blob y*sha512*");
    }
}
