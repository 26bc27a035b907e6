"""A private root CA (AWS Private CA) and an ACM certificate it issues, for internal TLS.

What it creates, in the order CloudFormation needs them:

* ``AWS::ACMPCA::CertificateAuthority`` (type ROOT, RSA 2048 / SHA256WITHRSA) - the CA
  exists but cannot issue until it has a CA certificate
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-acmpca-certificateauthority.html:
  "Once the CA exists, you can use the AWS::ACMPCA::Certificate resource to issue a new CA
  certificate");
* ``AWS::ACMPCA::Certificate`` - the CA's self-signed certificate, from its own CSR with the
  ``RootCACertificate/V1`` template;
* ``AWS::ACMPCA::CertificateAuthorityActivation`` - installs it and activates the CA
  (removing the activation disables the CA, which must happen before the CA is deleted);
* ``AWS::ACMPCA::Permission`` - lets ``acm.amazonaws.com`` issue and renew certificates from
  the CA (ACM's managed renewal of private certificates needs it);
* ``AWS::CertificateManager::Certificate`` with ``CertificateAuthorityArn`` - a private
  certificate for ``domain_name``, issued by the CA without DNS validation
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-certificatemanager-certificate.html,
  CertificateAuthorityArn: "The Amazon Resource Name (ARN) of the private certificate
  authority (CA) that will be used to issue the certificate").

Clients trust the CA's certificate (``aws acm-pca get-certificate-authority-certificate
--certificate-authority-arn <ca_arn>``). AWS bills a general-purpose private CA per month.

Example::

    from skyrelay.constructs.private_certificate import PrivateCaCertificate

    tls = PrivateCaCertificate(stack, "Tls", domain_name="gateway.eu.example.internal")
    GatewayService(stack, "Gateway", ..., certificate_arn=tls.certificate_arn)
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_acmpca as acmpca
from aws_cdk import aws_certificatemanager as acm
from constructs import Construct


class PrivateCaCertificate(Construct):
    """A root private CA and one ACM certificate from it (see the module docstring).

    Attributes: :attr:`authority` (the L1 CA), :attr:`ca_arn`, :attr:`certificate`,
    :attr:`certificate_arn`.
    """

    def __init__(self, scope: Construct, id: str, *, domain_name: str,
                 organization: str = "skyrelay", validity_years: int = 10) -> None:
        super().__init__(scope, id)
        if len(domain_name) > 64:
            raise ValueError(f"{domain_name!r}: a certificate's common name has at most 64 "
                             "characters")
        self.authority = acmpca.CfnCertificateAuthority(
            self, "Authority",
            type="ROOT",
            key_algorithm="RSA_2048",
            signing_algorithm="SHA256WITHRSA",
            subject=acmpca.CfnCertificateAuthority.SubjectProperty(
                common_name=f"{organization} private CA"[:64], organization=organization[:64]),
            usage_mode="GENERAL_PURPOSE",
        )
        self.ca_arn: str = self.authority.attr_arn
        root = acmpca.CfnCertificate(
            self, "RootCertificate",
            certificate_authority_arn=self.ca_arn,
            certificate_signing_request=self.authority.attr_certificate_signing_request,
            signing_algorithm="SHA256WITHRSA",
            template_arn="arn:aws:acm-pca:::template/RootCACertificate/V1",
            validity=acmpca.CfnCertificate.ValidityProperty(type="YEARS",
                                                            value=validity_years),
        )
        activation = acmpca.CfnCertificateAuthorityActivation(
            self, "Activation",
            certificate_authority_arn=self.ca_arn,
            certificate=root.attr_certificate,
            status="ACTIVE",
        )
        permission = acmpca.CfnPermission(
            self, "AcmRenewal",
            actions=["IssueCertificate", "GetCertificate", "ListPermissions"],
            certificate_authority_arn=self.ca_arn,
            principal="acm.amazonaws.com",
            source_account=cdk.Stack.of(self).account,
        )
        permission.node.add_dependency(activation)
        self.certificate = acm.PrivateCertificate(
            self, "Certificate",
            domain_name=domain_name,
            certificate_authority=acmpca.CertificateAuthority.from_certificate_authority_arn(
                self, "Issuer", self.ca_arn),
        )
        # The CA issues only once it is active.
        self.certificate.node.add_dependency(activation)
        self.certificate_arn: str = self.certificate.certificate_arn
