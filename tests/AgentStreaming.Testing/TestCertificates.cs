using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentStreaming.Testing;

/// <summary>The PEM files of a test CA and of a certificate it signed, with the certificate's key.</summary>
/// <param name="CaCertificate">The CA's certificate (what clients trust).</param>
/// <param name="Certificate">The certificate a redis-server presents.</param>
/// <param name="Key">Its private key.</param>
internal sealed record TestCertificateFiles(string CaCertificate, string Certificate, string Key)
{
    /// <summary>
    /// The <c>redis-server</c> arguments that load these files (<c>--tls-cert-file</c>, <c>--tls-key-file</c>,
    /// <c>--tls-ca-cert-file</c>); clients need no certificate of their own (<c>--tls-auth-clients no</c>).
    /// </summary>
    public IReadOnlyList<string> ServerArguments =>
    [
        "--tls-cert-file", Certificate,
        "--tls-key-file", Key,
        "--tls-ca-cert-file", CaCertificate,
        "--tls-auth-clients", "no",
    ];
}

/// <summary>
/// A throw-away CA and a certificate it signed (for <c>localhost</c> and <c>127.0.0.1</c>), as PEM files. The certificate
/// serves as a server's and as a client's: the nodes of a TLS cluster present it to each other on the cluster bus and
/// when a replica connects to its primary.
/// </summary>
internal static class TestCertificates
{
    /// <summary>Writes <c>ca.crt</c>, <c>server.crt</c> and <c>server.key</c> into <paramref name="directory"/>.</summary>
    /// <returns>The three paths.</returns>
    public static TestCertificateFiles Write(string directory)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=AgentStreaming test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var server = serverRequest.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));

        var files = new TestCertificateFiles(Path.Combine(directory, "ca.crt"), Path.Combine(directory, "server.crt"), Path.Combine(directory, "server.key"));
        File.WriteAllText(files.CaCertificate, ca.ExportCertificatePem());
        File.WriteAllText(files.Certificate, server.ExportCertificatePem());
        File.WriteAllText(files.Key, serverKey.ExportPkcs8PrivateKeyPem());
        return files;
    }
}
