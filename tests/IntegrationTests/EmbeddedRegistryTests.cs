using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Occystrap.RegistryServer;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// The embedded Registry V2 server against independent clients: skopeo pushing and pulling real images,
/// occystrap's own registry client, and hand-made requests for each rule of the upload protocol.
/// </summary>
public sealed class EmbeddedRegistryTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private EmbeddedRegistry _server = null!;
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false });

    public async Task InitializeAsync() => _server = await Start(new RegistryServerOptions { StorageRoot = _dir["store"], UploadIdleTimeout = TimeSpan.FromSeconds(1) });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _http.Dispose();
        _dir.Dispose();
    }

    private static Task<EmbeddedRegistry> Start(RegistryServerOptions options) => EmbeddedRegistry.StartAsync(options);

    private Uri U(string path) => new(_server.BaseUri, path);

    private static string Sha(byte[] b) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b));

    private static async Task<string> Code(HttpResponseMessage r) =>
        JsonNode.Parse(await r.Content.ReadAsStringAsync())!["errors"]![0]!["code"]!.GetValue<string>();

    private async Task<string> StartUpload(string repo)
    {
        var r = await _http.PostAsync(U($"v2/{repo}/blobs/uploads/"), null);
        r.StatusCode.Should().Be(HttpStatusCode.Accepted);
        r.Headers.GetValues("Range").Single().Should().Be("0-0");
        return r.Headers.Location!.ToString();
    }

    private static ByteArrayContent Chunk(byte[] data, long start)
    {
        var c = new ByteArrayContent(data);
        c.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        c.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + data.Length - 1}");
        return c;
    }

    [Fact]
    public void Skopeo_pushes_an_image_and_reads_it_back_the_same()
    {
        string image = $"docker://{_server.Address}/occy/skopeo:1";
        Must("skopeo", "copy", "--dest-tls-verify=false", $"docker-archive:{SampleImage}", image);
        _server.BlobsStored.Should().BeGreaterThanOrEqualTo(3, "two layers and the config");
        var config = JsonNode.Parse(Must("skopeo", "inspect", "--config", "--tls-verify=false", image))!;
        var original = JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{SampleImage}"))!;
        config["rootfs"]!.ToJsonString().Should().Be(original["rootfs"]!.ToJsonString());
        // The manifest skopeo sent is kept byte for byte; its digest is the one skopeo reports.
        var raw = Must("skopeo", "inspect", "--raw", "--tls-verify=false", image);
        string digest = JsonNode.Parse(Must("skopeo", "inspect", "--tls-verify=false", image))!["Digest"]!.GetValue<string>();
        Sha(Encoding.UTF8.GetBytes(raw.TrimEnd('\n'))).Should().Be(digest);
        Must("skopeo", "copy", "--src-tls-verify=false", image, $"docker-archive:{_dir["back.tar"]}:occy/back:1");
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{_dir["back.tar"]}"))!["rootfs"]!.ToJsonString()
            .Should().Be(original["rootfs"]!.ToJsonString());
    }

    [Fact]
    public void Occystrap_pushes_to_it_and_pulls_the_same_layers()
    {
        var push = Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{_server.Address}/occy/own:1");
        push.Code.Should().Be(0, push.ToString());
        _server.FindManifest("occy/own", "1").Should().NotBeNull();
        _server.FindManifest("occy/own", "1")!.Digest.ToString().Should().Be(push.Stdout.Trim(), "the digest printed is the one the server computed from the bytes");
        var pull = Occy("--insecure", "process", $"registry://{_server.Address}/occy/own:1", $"tar://{_dir["own.tar"]}");
        pull.Code.Should().Be(0, pull.ToString());
        var a = JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{_dir["own.tar"]}"))!["rootfs"]!.ToJsonString();
        a.Should().Be(JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{SampleImage}"))!["rootfs"]!.ToJsonString());
    }

    [Fact]
    public async Task Chunked_uploads_go_in_order_and_an_out_of_order_chunk_gets_416()
    {
        byte[] blob = RandomNumberGenerator.GetBytes(300_000);
        string location = await StartUpload("occy/chunks");
        var first = await _http.PatchAsync(U(location), Chunk(blob[..100_000], 0));
        first.StatusCode.Should().Be(HttpStatusCode.Accepted);
        first.Headers.GetValues("Range").Single().Should().Be("0-99999");

        var skipped = await _http.PatchAsync(U(location), Chunk(blob[200_000..], 200_000));
        skipped.StatusCode.Should().Be(HttpStatusCode.RequestedRangeNotSatisfiable);
        skipped.Headers.GetValues("Range").Single().Should().Be("0-99999", "the server says where the upload stands");

        (await _http.PatchAsync(U(location), Chunk(blob[100_000..200_000], 100_000))).StatusCode.Should().Be(HttpStatusCode.Accepted);
        var status = await _http.GetAsync(U(location));
        status.StatusCode.Should().Be(HttpStatusCode.NoContent);
        status.Headers.GetValues("Range").Single().Should().Be("0-199999");
        var done = await _http.PutAsync(U(location + $"?digest={Sha(blob)}"), Chunk(blob[200_000..], 200_000));
        done.StatusCode.Should().Be(HttpStatusCode.Created);
        done.Headers.GetValues("Docker-Content-Digest").Single().Should().Be(Sha(blob));
        (await _http.GetByteArrayAsync(U($"v2/occy/chunks/blobs/{Sha(blob)}"))).Should().Equal(blob);

        // A range of the blob, as a resuming client asks for it.
        var range = new HttpRequestMessage(HttpMethod.Get, U($"v2/occy/chunks/blobs/{Sha(blob)}"));
        range.Headers.Range = new RangeHeaderValue(1000, 1999);
        var part = await _http.SendAsync(range);
        part.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        (await part.Content.ReadAsByteArrayAsync()).Should().Equal(blob[1000..2000]);
    }

    [Fact]
    public async Task A_monolithic_upload_is_one_post_and_a_digest_mismatch_stores_nothing()
    {
        byte[] blob = Encoding.UTF8.GetBytes("one request, the whole blob");
        var r = await _http.PostAsync(U($"v2/occy/mono/blobs/uploads/?digest={Sha(blob)}"), new ByteArrayContent(blob));
        r.StatusCode.Should().Be(HttpStatusCode.Created);
        var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, U($"v2/occy/mono/blobs/{Sha(blob)}")));
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        head.Content.Headers.ContentLength.Should().Be(blob.Length);

        byte[] other = Encoding.UTF8.GetBytes("these bytes are not the ones the digest names");
        string location = await StartUpload("occy/mono");
        var wrong = await _http.PutAsync(U(location + $"?digest={Sha(blob).Replace('a', 'b')}"), new ByteArrayContent(other));
        wrong.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await Code(wrong)).Should().Be("DIGEST_INVALID");
        (await _http.GetAsync(U($"v2/occy/mono/blobs/{Sha(other)}"))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        _server.OpenUploads.Should().Be(0);
        Directory.GetFiles(Path.Combine(_server.Blobs.Root, "uploads")).Should().BeEmpty("the refused upload's file is gone");
    }

    [Fact]
    public async Task Two_concurrent_uploads_of_one_blob_both_succeed_and_store_it_once()
    {
        byte[] blob = RandomNumberGenerator.GetBytes(2_000_000);
        string a = await StartUpload("occy/twice"), b = await StartUpload("occy/twice");
        var both = await Task.WhenAll(
            _http.PutAsync(U(a + $"?digest={Sha(blob)}"), new ByteArrayContent(blob)),
            _http.PutAsync(U(b + $"?digest={Sha(blob)}"), new ByteArrayContent(blob)));
        both.Select(r => r.StatusCode).Should().Equal(HttpStatusCode.Created, HttpStatusCode.Created);
        (await _http.GetByteArrayAsync(U($"v2/occy/twice/blobs/{Sha(blob)}"))).Should().Equal(blob);
        Directory.GetFiles(Path.Combine(_server.Blobs.Root, "uploads")).Should().BeEmpty();
    }

    [Fact]
    public async Task An_upload_abandoned_halfway_is_purged_with_its_file()
    {
        string location = await StartUpload("occy/abandoned");
        (await _http.PatchAsync(U(location), Chunk(RandomNumberGenerator.GetBytes(50_000), 0))).StatusCode.Should().Be(HttpStatusCode.Accepted);
        Directory.GetFiles(Path.Combine(_server.Blobs.Root, "uploads")).Should().ContainSingle();
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // the idle timeout is 1 s here
        Directory.GetFiles(Path.Combine(_server.Blobs.Root, "uploads")).Should().BeEmpty();
        var gone = await _http.GetAsync(U(location));
        gone.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await Code(gone)).Should().Be("BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task A_manifest_put_answers_the_digest_of_the_exact_bytes_and_needs_its_blobs()
    {
        byte[] config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
        (await _http.PostAsync(U($"v2/occy/m/blobs/uploads/?digest={Sha(config)}"), new ByteArrayContent(config))).StatusCode.Should().Be(HttpStatusCode.Created);
        // Spaces and a key order no serializer would choose: the digest must be of these bytes.
        string text = $"{{ \"schemaVersion\" : 2, \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n \"config\": {{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":{config.Length},\"digest\":\"{Sha(config)}\"}}, \"layers\": [] }}";
        byte[] manifest = Encoding.UTF8.GetBytes(text);
        var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        var put = await _http.PutAsync(U("v2/occy/m/manifests/v1"), content);
        put.StatusCode.Should().Be(HttpStatusCode.Created);
        put.Headers.GetValues("Docker-Content-Digest").Single().Should().Be(Sha(manifest));
        var get = await _http.GetAsync(U($"v2/occy/m/manifests/{Sha(manifest)}"));
        (await get.Content.ReadAsByteArrayAsync()).Should().Equal(manifest);
        get.Content.Headers.ContentType!.MediaType.Should().Be("application/vnd.oci.image.manifest.v1+json");

        byte[] dangling = Encoding.UTF8.GetBytes(text.Replace(Sha(config), "sha256:" + new string('0', 64)));
        var refused = await _http.PutAsync(U("v2/occy/m/manifests/v2"), new ByteArrayContent(dangling));
        refused.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await Code(refused)).Should().Be("MANIFEST_BLOB_UNKNOWN");
    }

    [Fact]
    public async Task A_blob_held_elsewhere_answers_head_only_and_a_manifest_may_name_it()
    {
        string held = "sha256:" + new string('a', 64), other = "sha256:" + new string('b', 64);
        var requests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = await Start(new RegistryServerOptions
        {
            StorageRoot = _dir["held"],
            BlobsHeldElsewhere = d => d.ToString() == held ? 1234 : null,
            RequestLog = requests.Enqueue,
        });
        var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(server.BaseUri, $"v2/occy/h/blobs/{held}")));
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        head.Content.Headers.ContentLength.Should().Be(1234);
        head.Headers.GetValues("Docker-Content-Digest").Single().Should().Be(held);
        (await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(server.BaseUri, $"v2/occy/h/blobs/{other}")))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await _http.GetAsync(new Uri(server.BaseUri, $"v2/occy/h/blobs/{held}"))).StatusCode.Should().Be(HttpStatusCode.NotFound, "its bytes are not here");
        server.BlobsHeldElsewhereAnswered.Should().Be(1);

        byte[] config = Encoding.UTF8.GetBytes("{}");
        (await _http.PostAsync(new Uri(server.BaseUri, $"v2/occy/h/blobs/uploads/?digest={Sha(config)}"), new ByteArrayContent(config))).StatusCode.Should().Be(HttpStatusCode.Created);
        string Manifest(string layer) => $"{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":2,\"digest\":\"{Sha(config)}\"}},\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":1234,\"digest\":\"{layer}\"}}]}}";
        (await _http.PutAsync(new Uri(server.BaseUri, "v2/occy/h/manifests/v1"), new StringContent(Manifest(held)))).StatusCode.Should().Be(HttpStatusCode.Created);
        (await _http.PutAsync(new Uri(server.BaseUri, "v2/occy/h/manifests/v2"), new StringContent(Manifest(other)))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        requests.Should().Contain($"HEAD /v2/occy/h/blobs/{held} 200").And.Contain($"HEAD /v2/occy/h/blobs/{other} 404");
    }

    [Fact]
    public async Task Https_with_its_own_certificate_and_a_basic_credential_refuses_a_wrong_one()
    {
        string password = "s3cret-" + Guid.NewGuid().ToString("N")[..6];
        await using var secure = await Start(new RegistryServerOptions
        {
            StorageRoot = _dir["secure"],
            Https = true,
            Basic = new NetworkCredential("pusher", password),
        });
        secure.Certificate.Should().NotBeNull();
        secure.BaseUri.Scheme.Should().Be("https");
        string image = $"docker://{secure.Address}/occy/secure:1";
        var wrong = Run("skopeo", ["copy", "--dest-tls-verify=false", "--dest-creds", "pusher:wrong", $"docker-archive:{SampleImage}", image]);
        wrong.Code.Should().NotBe(0, wrong.ToString());
        wrong.Stderr.Should().Contain("unauthorized", wrong.ToString());
        secure.FindManifest("occy/secure", "1").Should().BeNull();
        Must("skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", $"pusher:{password}", $"docker-archive:{SampleImage}", image);
        secure.FindManifest("occy/secure", "1").Should().NotBeNull();

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert!.Thumbprint == secure.Certificate!.Thumbprint };
        using var client = new HttpClient(handler);
        var anonymous = await client.GetAsync(new Uri(secure.BaseUri, "v2/"));
        anonymous.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        anonymous.Headers.WwwAuthenticate.ToString().Should().StartWith("Basic");
        (await Code(anonymous)).Should().Be("UNAUTHORIZED");
    }
}
